// Evaluated inside the task's realm by node_host.js: the deterministic test
// host (keep in step with engine_test.cc Answer()).
'use strict';
class HostCallError extends Error {
  constructor(message, code) { super(message); this.name = 'HostCallError'; this.code = code; }
}

function answer(service, method, args) {
  switch (service) {
    case 'echo': return {ok: true, value: {service, method, args}};
    case 'num': return {ok: true, value: (Array.isArray(args) ? args[0].n : args.n) * 2};
    case 'big': return {ok: true, value: 'x'.repeat(args.size)};
    case 'fail': return {ok: false, message: `failed ${method}`, code: 'E_FAIL'};
    default: return {ok: false, message: `unknown service ${service}`, code: 'E_UNKNOWN'};
  }
}

function __callHostTool__(service, method, args) {
  if (Array.isArray(method)) method = method.join('.');
  const json = JSON.stringify(args === undefined ? null : args);
  return new Promise((resolve, reject) => {
    setImmediate(() => {
      const a = answer(service, method, JSON.parse(json));
      if (a.ok) resolve(JSON.parse(JSON.stringify(a.value)));
      else reject(new HostCallError(a.message, a.code));
    });
  });
}


globalThis.__callHostTool__ = __callHostTool__;
globalThis.HostCallError = HostCallError;
