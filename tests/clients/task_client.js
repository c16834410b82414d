// A TaskService client in another language: Node.js with @grpc/grpc-js,
// its stubs generated at load time from proto/tasker/v1 by @grpc/proto-loader.
//
//   NODE_PATH=/opt/tasker-npm/node_modules node task_client.js 127.0.0.1:PORT PROTO_ROOT [PROTO_FILE]
// PROTO_FILE is task_service.proto's path under PROTO_ROOT (the import root
// the files' imports start from; default tasker/v1/task_service.proto).
// Against a secured deployment: TASKER_TOKEN (sent as "authorization: Bearer
// <token>" on every call) and TLS from TASKER_TLS_CA, with TASKER_TLS_CERT
// and TASKER_TLS_KEY where client certificates are required.
// Prints one JSON line: {"version":..., "events":[statuses...], "result":...,
// "notFoundCode":..., "notFoundDetails":[google.rpc.Status details, if sent]}.
'use strict';
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const protobuf = require('protobufjs');

const [target, protoRoot, protoFile = 'tasker/v1/task_service.proto'] = process.argv.slice(2);
const definition = loader.loadSync(protoFile, {
  includeDirs: [protoRoot, '/usr/include'],
  keepCase: false, longs: Number, enums: String, defaults: false, oneofs: true,
});
const tasker = grpc.loadPackageDefinition(definition).tasker.v1;
const fs = require('fs');
const env = process.env;
let credentials = grpc.credentials.createInsecure();
if (env.TASKER_TLS_CA) {
  const read = (name) => (env[name] ? fs.readFileSync(env[name]) : null);
  credentials = grpc.credentials.createSsl(read('TASKER_TLS_CA'), read('TASKER_TLS_KEY'), read('TASKER_TLS_CERT'));
  if (env.TASKER_TOKEN) {
    credentials = grpc.credentials.combineChannelCredentials(credentials,
        grpc.credentials.createFromMetadataGenerator((_, done) => {
          const metadata = new grpc.Metadata();
          metadata.add('authorization', `Bearer ${env.TASKER_TOKEN}`);
          done(null, metadata);
        }));
  }
}
const client = new tasker.TaskService(target, credentials);

// google.rpc.Status and the details Tasker sends, to decode the
// grpc-status-details-bin trailer (field numbers as in googleapis' google/rpc).
const rpc = protobuf.Root.fromJSON({nested: {google: {nested: {
  protobuf: {nested: {Any: {fields: {type_url: {type: 'string', id: 1}, value: {type: 'bytes', id: 2}}}}},
  rpc: {nested: {
    Status: {fields: {code: {type: 'int32', id: 1}, message: {type: 'string', id: 2},
                      details: {rule: 'repeated', type: 'google.protobuf.Any', id: 3}}},
    ErrorInfo: {fields: {reason: {type: 'string', id: 1}, domain: {type: 'string', id: 2},
                         metadata: {keyType: 'string', type: 'string', id: 3}}},
    BadRequest: {fields: {fieldViolations: {rule: 'repeated', type: 'FieldViolation', id: 1}},
                 nested: {FieldViolation: {fields: {field: {type: 'string', id: 1},
                                                    description: {type: 'string', id: 2}}}}},
  }},
}}}});
// The details of a failed call as plain objects ([] when the server sent none).
const statusDetails = (err) => {
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin')[0];
  if (!raw) return [];
  const status = rpc.lookupType('google.rpc.Status').decode(raw);
  return status.details.map((any) => {
    const name = any.type_url.split('/').pop();
    const type = name.startsWith('google.rpc.') ? rpc.lookup(name) : null;
    return type instanceof protobuf.Type ? {'@type': name, ...type.toObject(type.decode(any.value))} : {'@type': name};
  });
};

// Payloads are JSON text (input_json, result_json): key order kept.
const call = (method, request) => new Promise((resolve, reject) =>
    client[method](request, {deadline: Date.now() + 20000}, (err, res) => err ? reject(err) : resolve(res)));

(async () => {
  const fn = await call('publishTask', {
    identifier: 'from-node',
    code: "const r = await __callHostTool__('admin-debug', 'echo', {lang: input.lang});" +
          ' return {hello: r.lang, z: 1, a: -0.5e1};',
    metadataJson: JSON.stringify({permissions: ['admin-debug:echo']}),
  });
  const submitted = await call('submitRun', {taskIdentifier: 'from-node', inputJson: JSON.stringify({lang: 'node'})});
  const events = [];
  const stream = client.watchRun({name: submitted.run.id});
  let last;
  stream.on('data', (e) => { events.push(e.run.status); last = e; });
  await new Promise((resolve, reject) => { stream.on('end', resolve); stream.on('error', reject); });
  // A structured error: the status code, and google.rpc.Status details when the server sends them.
  let badCode, badDetails;
  try { await call('getRun', {name: 'run_nope'}); } catch (e) { badCode = e.code; badDetails = statusDetails(e); }
  console.log(JSON.stringify({version: fn.version, events, result: JSON.parse(last.run.resultJson),
                              resultJson: last.run.resultJson,
                              notFoundCode: badCode, notFoundDetails: badDetails}));
  client.close();
})().catch((e) => {
  // A failed call: its code's name, message and details on one line.
  if (e.code !== undefined) console.error(`${grpc.status[e.code]}: ${e.details} ${JSON.stringify(statusDetails(e))}`);
  else console.error(e);
  process.exit(1);
});
