// A TaskService client in another language: Node.js with @grpc/grpc-js,
// its stubs generated at load time from proto/ (import root: tasker/v1/*.proto)
// by @grpc/proto-loader.
//
//   NODE_PATH=/opt/tasker-npm/node_modules node task_client.js 127.0.0.1:PORT PROTO_ROOT
// (PROTO_ROOT: the repository's proto/ directory).
// Against a secured deployment: TASKER_TOKEN (sent as "authorization: Bearer
// <token>" on every call) and TLS from TASKER_TLS_CA, with TASKER_TLS_CERT
// and TASKER_TLS_KEY where client certificates are required.
// Prints one JSON line: {"version":..., "events":[statuses...], "result":...}.
'use strict';
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [target, protoRoot] = process.argv.slice(2);
const definition = loader.loadSync('tasker/v1/task_service.proto', {
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

// Payloads are JSON text (input_json, result_json): key order kept.
const call = (method, request) => new Promise((resolve, reject) =>
    client[method](request, {deadline: Date.now() + 20000}, (err, res) => err ? reject(err) : resolve(res)));

(async () => {
  const fn = await call('publishTask', {
    identifier: 'from-node',
    code: "const r = await __callHostTool__('admin-debug', 'echo', {lang: input.lang}); return {hello: r.lang, z: 1, a: -0.5e1};",
    metadataJson: JSON.stringify({permissions: ['admin-debug:echo']}),
  });
  const submitted = await call('submitRun', {taskIdentifier: 'from-node', inputJson: JSON.stringify({lang: 'node'})});
  const events = [];
  const stream = client.watchRun({name: submitted.run.name});
  let last;
  stream.on('data', (e) => { events.push(e.run.status); last = e; });
  await new Promise((resolve, reject) => { stream.on('end', resolve); stream.on('error', reject); });
  let badCode, badDetails;
  try { await call('getRun', {name: 'runs/run_nope'}); } catch (e) { badCode = e.code; badDetails = e.metadata.get('grpc-status-details-bin'); }
  console.log(JSON.stringify({version: fn.version, events, result: JSON.parse(last.run.resultJson),
                              resultJson: last.run.resultJson,
                              notFoundCode: badCode, runName: submitted.run.name, runId: submitted.run.id,
                              notFoundDetails: badDetails.length ? Buffer.from(badDetails[0]).toString('base64') : ''}));
  client.close();
})().catch((e) => { console.error(e); process.exit(1); });
