// Tasker runtime prelude, section "tools": the `tools` and `database`
// globals. Compiled into a task's context the first time the task touches
// one of them (prelude.js, "Sections compiled on first use"); it uses only
// the intrinsics the prelude captured before the task started.
(function (shared, section) {
  'use strict';

  const {ReflectApply, TypeErrorCtor, append, rejected, ProxyCtor, toJson, queueCall, callHostTool} = shared;

  // --- tools: service chains of the old platform ----------------------------------
  // tools.<service>.<a>.<b>(...args) is a thenable: awaited, it makes the call
  // __callHostTool__(service, 'a.b', ...args). Several calls chained
  // (tools.database.from('t').select('*').eq('a', 1)...) make one call,
  // __callHostTool__(service, 'chain', {chain: [{property, args}, ...]}).
  // A chain is sent once, when first awaited (then/catch/finally); awaiting
  // it again gives the same result.
  const isStep = (name) => typeof name === 'string' && name !== 'then' && name !== 'catch' && name !== 'finally';
  const proxyTarget = () => {};
  function settleWith(promise, onFulfilled, onRejected) {
    return (async () => {
      let value;
      try {
        value = await promise;
      } catch (e) {
        if (typeof onRejected === 'function') return onRejected(e);
        throw e;
      }
      return typeof onFulfilled === 'function' ? onFulfilled(value) : value;
    })();
  }
  // A property path after a service or a call: [service, names, previous call node].
  function toolsPath(service, names, previous) {
    return new ProxyCtor(proxyTarget, {
      __proto__: null,
      get(target, name) {
        if (!isStep(name)) return undefined;
        const longer = [];
        for (let i = 0; i < names.length; i++) append(longer, names[i]);
        append(longer, name);
        return toolsPath(service, longer, previous);
      },
      apply(target, self, args) {
        if (names.length === 0) {
          throw new TypeErrorCtor(`tools.${service} is a service, not a method: call one of its methods`);
        }
        let property = '';
        for (let i = 0; i < names.length; i++) property += (i === 0 ? '' : '.') + names[i];
        const node = {__proto__: null, property, args, previous, count: previous === null ? 1 : previous.count + 1};
        return toolsCall(service, node);
      },
    });
  }
  function sendChain(service, node) {
    if (node.count === 1) {
      const all = [service, node.property];
      for (let i = 0; i < node.args.length; i++) append(all, node.args[i]);
      return ReflectApply(callHostTool, undefined, all);
    }
    const chain = [];
    for (let n = node; n !== null; n = n.previous) append(chain, null);
    let i = chain.length;
    for (let n = node; n !== null; n = n.previous) chain[--i] = {__proto__: null, property: n.property, args: n.args};
    let argsJson;
    try {
      argsJson = toJson({__proto__: null, chain}, 'args');
    } catch (e) {
      return rejected(e);
    }
    return queueCall(service, 'chain', argsJson);
  }
  function toolsCall(service, node) {
    let sent = null;
    const send = () => (sent === null ? (sent = sendChain(service, node)) : sent);
    return new ProxyCtor(proxyTarget, {
      __proto__: null,
      get(target, name) {
        if (name === 'then') return (onFulfilled, onRejected) => settleWith(send(), onFulfilled, onRejected);
        if (name === 'catch') return (onRejected) => settleWith(send(), undefined, onRejected);
        if (name === 'finally') {
          return (onFinally) => (async () => {
            try {
              return await send();
            } finally {
              if (typeof onFinally === 'function') await onFinally();
            }
          })();
        }
        if (typeof name !== 'string') return undefined;
        return toolsPath(service, [name], node);
      },
      apply() { throw new TypeErrorCtor(`the result of a tools.${service} call is not a function`); },
    });
  }
  const tools = new ProxyCtor({__proto__: null}, {
    __proto__: null,
    get(target, service) {
      if (!isStep(service)) return undefined;
      // The old platform's name for the database service (supabase-js).
      return toolsPath(service === 'supabase' ? 'database' : service, [], null);
    },
  });

  return {__proto__: null, tools, database: toolsPath('database', [], null)};
})
