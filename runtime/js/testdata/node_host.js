// Runs a Tasker task file under plain Node.js with the same host-call
// answers as the C++ test host (engine_test.cc), and prints the outcome as
// one JSON line: {"ok":true,"result":...} or {"ok":false,"name":...,"message":...}.
//
//   node node_host.js TASK.js 'INPUT_JSON'
'use strict';
const fs = require('fs');

const vm = require('vm');

const code = fs.readFileSync(process.argv[2], 'utf8');
const input = JSON.parse(process.argv[3] || 'null');
const isCommonJs = /(^|[^.\w$])(module\.exports|exports\.[A-Za-z_$][\w$]*)\s*=/.test(code);
// The host lives inside the task's realm, so errors are instances of the
// task's Error and results are the task's arrays and objects.
// Node's own web globals stand in for the prelude's (their results are
// compared as JSON, so that they come from Node's realm does not matter).
const sandbox = vm.createContext({
  setImmediate, console: {log() {}, info() {}, warn() {}, error() {}, debug() {}}, URL, URLSearchParams, TextEncoder,
  TextDecoder, atob, btoa, structuredClone, Headers, Request, Response,
});
vm.runInContext(fs.readFileSync(require('path').join(__dirname, 'node_host_realm.js'), 'utf8'), sandbox);
let task;
if (isCommonJs) {
  const module = {exports: {}};
  const wrapper = vm.runInContext(`(function (module, exports) {\n${code}\n})`, sandbox);
  wrapper(module, module.exports);
  const e = module.exports;
  task = typeof e === 'function' ? e : (e && typeof e.handler === 'function') ? e.handler
       : Object.values(e).find((v) => typeof v === 'function');
} else {
  task = vm.runInContext(`(async function task(input) {\n${code}\n})`, sandbox);
}
Promise.resolve().then(() => task(input)).then(
    (result) => console.log(JSON.stringify({ok: true, result: result === undefined ? null : result})),
    (e) => console.log(JSON.stringify({ok: false, name: e && e.name, message: e && e.message})));
