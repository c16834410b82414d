// Tasker runtime prelude: runs once in every new task context, before the
// task's code. It restores builtins that V8 10.2's snapshot-creator isolates
// lack, routes nondeterminism (Math.random) and console output through the
// host, and defines __callHostTool__. It evaluates to the runtime object the
// host keeps in the snapshot (context data slot 0).
//
// `native` holds the host's functions: log(level, text), and is not
// reachable from task code after this returns.
(function (global, native) {
  'use strict';

  const define = (object, name, value) =>
      Object.defineProperty(object, name, {value, writable: true, configurable: true, enumerable: false});

  // --- Builtins missing in snapshot-creator isolates ----------------------
  if (typeof Error.stackTraceLimit !== 'number') Error.stackTraceLimit = 20;
  function at(index) {
    const length = this.length >>> 0;
    let k = Math.trunc(Number(index)) || 0;
    if (k < 0) k += length;
    return k < 0 || k >= length ? undefined : this[k];
  }
  if (!Array.prototype.at) define(Array.prototype, 'at', at);
  if (!String.prototype.at) {
    define(String.prototype, 'at', function (index) { return at.call(String(this), index); });
  }
  for (const TA of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
                    Uint32Array, Float32Array, Float64Array]) {
    if (!TA.prototype.at) define(TA.prototype, 'at', at);
  }
  if (!Array.prototype.findLast) {
    define(Array.prototype, 'findLast', function (predicate, thisArg) {
      for (let i = this.length - 1; i >= 0; i--) if (predicate.call(thisArg, this[i], i, this)) return this[i];
      return undefined;
    });
  }
  if (!Array.prototype.findLastIndex) {
    define(Array.prototype, 'findLastIndex', function (predicate, thisArg) {
      for (let i = this.length - 1; i >= 0; i--) if (predicate.call(thisArg, this[i], i, this)) return i;
      return -1;
    });
  }
  if (!Object.hasOwn) {
    define(Object, 'hasOwn', (object, key) => Object.prototype.hasOwnProperty.call(Object(object), key));
  }

  if (typeof global.queueMicrotask !== 'function') {
    define(global, 'queueMicrotask', function queueMicrotask(callback) {
      if (typeof callback !== 'function') throw new TypeError('queueMicrotask: callback must be a function');
      Promise.resolve().then(() => callback());
    });
  }

  // --- Nondeterminism goes through the host (one seam) ---------------------
  // Date.now() / new Date() read the platform clock, which the host sets to
  // the step's journaled time (frozen during a step). Math.random() is
  // xoshiro128** seeded from the journal's start step; its state lives in
  // the heap, so a checkpoint carries it and a replay regenerates it.
  const imul = Math.imul;
  let r0 = 0x9e3779b9, r1 = 0x243f6a88, r2 = 0xb7e15162, r3 = 0x85a308d3;
  const rotl = (x, k) => (x << k) | (x >>> (32 - k));
  function nextUint32() {
    const result = imul(rotl(imul(r1, 5), 7), 9) >>> 0;
    const t = r1 << 9;
    r2 ^= r0; r3 ^= r1; r1 ^= r2; r0 ^= r3; r2 ^= t; r3 = rotl(r3, 11);
    return result;
  }
  function seedRandom(hi, lo) {
    // splitmix32 over the two halves fills the state (never all zero).
    let x = (hi ^ imul(lo, 0x9e3779b9)) >>> 0;
    const mix = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = imul(z ^ (z >>> 16), 0x85ebca6b);
      z = imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    r0 = mix(); r1 = mix() ^ lo; r2 = mix() ^ hi; r3 = mix() | 1;
  }
  define(Math, 'random', function random() {
    return ((nextUint32() >>> 5) * 67108864 + (nextUint32() >>> 6)) / 9007199254740992;
  });

  // --- Intl objects cannot be snapshotted by V8 10.2 ------------------------
  // Instances are tracked weakly so that a suspension with one still alive
  // fails with a clear message instead of aborting V8.
  const liveIntl = [];
  if (typeof Intl === 'object' && typeof WeakRef === 'function') {
    for (const name of ['Collator', 'DateTimeFormat', 'DisplayNames', 'ListFormat', 'Locale', 'NumberFormat',
                        'PluralRules', 'RelativeTimeFormat', 'Segmenter']) {
      const Original = Intl[name];
      if (typeof Original !== 'function') continue;
      const track = (object) => { liveIntl.push([name, new WeakRef(object)]); return object; };
      const Wrapped = new Proxy(Original, {
        construct(target, args, newTarget) { return track(Reflect.construct(target, args, newTarget)); },
        apply(target, thisArg, args) { return track(Reflect.apply(target, thisArg, args)); },
      });
      define(Intl, name, Wrapped);
    }
  }

  // FinalizationRegistry instances with dead targets abort V8 10.2's
  // serializer unless collected first; the host pays for that extra full GC
  // only when the task made one.
  let registries = 0;
  if (typeof FinalizationRegistry === 'function') {
    const Original = FinalizationRegistry;
    define(global, 'FinalizationRegistry', new Proxy(Original, {
      construct(target, args, newTarget) { registries++; return Reflect.construct(target, args, newTarget); },
    }));
  }

  // --- console ---------------------------------------------------------------
  const nativeLog = native.log;
  function format(value, seen) {
    if (typeof value === 'string') return value;
    if (value instanceof Error) return value.stack || String(value);
    if (typeof value === 'function') return `[Function ${value.name || 'anonymous'}]`;
    if (typeof value === 'bigint') return `${value}n`;
    if (typeof value === 'symbol' || typeof value !== 'object' || value === null) return String(value);
    try {
      return JSON.stringify(value, (k, v) => typeof v === 'bigint' ? `${v}n` : v);
    } catch (e) {
      return Object.prototype.toString.call(value);
    }
  }
  const console = {};
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    define(console, level, function (...args) { nativeLog(level, args.map((a) => format(a)).join(' ')); });
  }
  define(global, 'console', console);

  // --- JSON boundary ------------------------------------------------------------
  // Only JSON crosses into or out of task code: functions, symbols, BigInt
  // and cycles are errors rather than silently dropped.
  function toJson(value, what) {
    const stack = [];
    function check(v, path) {
      const t = typeof v;
      if (t === 'function') throw new TypeError(`${what}: a function at ${path} cannot cross the JSON boundary`);
      if (t === 'bigint') throw new TypeError(`${what}: a BigInt at ${path} cannot cross the JSON boundary`);
      if (t === 'symbol') throw new TypeError(`${what}: a Symbol at ${path} cannot cross the JSON boundary`);
      if (t !== 'object' || v === null) return;
      if (typeof v.toJSON === 'function') return;
      if (stack.includes(v)) throw new TypeError(`${what}: a cycle at ${path} cannot cross the JSON boundary`);
      stack.push(v);
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) check(v[i], `${path}[${i}]`);
      } else {
        for (const k of Object.keys(v)) check(v[k], `${path}.${k}`);
      }
      stack.pop();
    }
    check(value, what);
    const text = JSON.stringify(value);
    return text === undefined ? 'null' : text;
  }

  // --- Host calls --------------------------------------------------------------
  const pending = new Map();  // call id -> {resolve, reject}
  let queued = [];            // calls made since the last suspension
  let nextId = 1;

  function callHostTool(service, method, args) {
    if (typeof service !== 'string' || service.length === 0) {
      return Promise.reject(new TypeError('__callHostTool__: service must be a non-empty string'));
    }
    if (Array.isArray(method)) {
      if (method.length === 0 || !method.every((p) => typeof p === 'string' && p.length > 0)) {
        return Promise.reject(new TypeError('__callHostTool__: method path must be non-empty strings'));
      }
      method = method.join('.');
    }
    if (typeof method !== 'string' || method.length === 0) {
      return Promise.reject(new TypeError('__callHostTool__: method must be a dotted string or a path array'));
    }
    let argsJson;
    try {
      argsJson = toJson(args === undefined ? null : args, 'args');
    } catch (e) {
      return Promise.reject(e);
    }
    const id = `c${nextId++}`;
    return new Promise((resolve, reject) => {
      pending.set(id, {resolve, reject});
      queued.push([id, service, method, argsJson]);
    });
  }
  define(global, '__callHostTool__', callHostTool);

  class HostCallError extends Error {
    constructor(message, code, details) {
      super(message);
      this.name = 'HostCallError';
      this.code = code;
      if (details !== undefined) this.details = details;
    }
  }

  const runtime = {
    // The number of host calls made so far ("call N" of the journal).
    callsMade() { return nextId - 1; },
    // Set by the host: the task's top-level promise and its outcome.
    main: undefined,
    state: 'pending',
    value: undefined,
    // Runs the task function and records the outcome of its promise.
    run(fn, inputJson, seedHi, seedLo) {
      seedRandom(seedHi >>> 0, seedLo >>> 0);
      const input = JSON.parse(inputJson);
      let promise;
      try {
        promise = Promise.resolve(fn(input));
      } catch (e) {
        promise = Promise.reject(e);
      }
      runtime.main = promise;
      promise.then((v) => { runtime.state = 'fulfilled'; runtime.value = v; },
                   (e) => { runtime.state = 'rejected'; runtime.value = e; });
    },
    // Hands the host the calls made since the last suspension.
    takeCalls() {
      const calls = queued;
      queued = [];
      return calls;
    },
    pendingCount() { return pending.size; },
    settle(id, ok, resultJson, message, code, detailsJson) {
      const entry = pending.get(id);
      if (!entry) return false;
      pending.delete(id);
      if (ok) {
        entry.resolve(JSON.parse(resultJson));
      } else {
        entry.reject(new HostCallError(message, code,
                                       detailsJson ? JSON.parse(detailsJson) : undefined));
      }
      return true;
    },
    resultJson() { return toJson(runtime.value, 'result'); },
    // A description of state V8 cannot snapshot, or undefined. Called after
    // a full GC, so only live objects count.
    // What the host must do before snapshotting: [intl objects tracked,
    // finalization registries made].
    snapshotNeeds() { return [liveIntl.length, registries]; },
    snapshotHazard() {
      for (let i = liveIntl.length - 1; i >= 0; i--) {
        if (liveIntl[i][1].deref() === undefined) liveIntl.splice(i, 1);
      }
      if (liveIntl.length > 0) {
        return `an Intl.${liveIntl[0][0]} object is alive across a host call; V8 cannot snapshot it. ` +
               'Create Intl objects after the last await, or keep only their formatted strings.';
      }
      return undefined;
    },
    // The task function of a CommonJS module.
    resolveExport(module) {
      const exported = module.exports;
      if (typeof exported === 'function') return exported;
      if (exported && typeof exported.handler === 'function') return exported.handler;
      if (exported && typeof exported === 'object') {
        for (const key of Object.keys(exported)) {
          if (typeof exported[key] === 'function') return exported[key];
        }
      }
      return undefined;
    },
    errorInfo() {
      const e = runtime.value;
      if (e instanceof Error) {
        return [String(e.message), String(e.stack || ''), String(e.name || 'Error')];
      }
      let text;
      try { text = typeof e === 'string' ? e : JSON.stringify(e); } catch (x) { text = String(e); }
      return [`Uncaught ${text}`, '', 'Throw'];
    },
  };
  define(global, 'HostCallError', HostCallError);
  return runtime;
})
