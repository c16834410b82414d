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

  // --- Intrinsics ------------------------------------------------------------
  // Captured here, before any task code runs: task code may replace any
  // builtin (Array.prototype.push, JSON.stringify, Promise.prototype.then,
  // Function.prototype.call, setters on Object.prototype, Symbol.iterator...)
  // and the runtime must go on working. So everything below that runs after
  // the task started uses only these, plain loops (no for-of, spread or
  // array methods), own data properties defined with null-prototype
  // descriptors, and async functions instead of then().
  const ReflectApply = Reflect.apply;
  const ReflectConstruct = Reflect.construct;
  const ObjectDefineProperty = Object.defineProperty;
  const ObjectKeys = Object.keys;
  const ObjectCtor = Object;
  const ObjectToString = Object.prototype.toString;
  const ObjectHasOwnProperty = Object.prototype.hasOwnProperty;
  const ArrayIsArray = Array.isArray;
  const JSONStringify = JSON.stringify;
  const JSONParse = JSON.parse;
  const PromiseCtor = Promise;
  const StringCtor = String;
  const ErrorCtor = Error;
  const TypeErrorCtor = TypeError;
  const FunctionHasInstance = Function.prototype[Symbol.hasInstance];
  const WeakRefCtor = typeof WeakRef === 'function' ? WeakRef : undefined;
  const WeakRefDeref = WeakRefCtor ? WeakRefCtor.prototype.deref : undefined;

  const define = (object, name, value) =>
      ObjectDefineProperty(object, name, {__proto__: null, value, writable: true, configurable: true, enumerable: false});
  const defineEnumerable = (object, name, value) =>
      ObjectDefineProperty(object, name, {__proto__: null, value, writable: true, configurable: true, enumerable: true});
  const append = (array, value) => defineEnumerable(array, array.length, value);
  const isError = (value) =>
      value !== null && typeof value === 'object' && ReflectApply(FunctionHasInstance, ErrorCtor, [value]);
  const rejected = (error) => new PromiseCtor((resolve, reject) => reject(error));

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
    define(String.prototype, 'at', function (index) { return ReflectApply(at, StringCtor(this), [index]); });
  }
  for (const TA of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
                    Uint32Array, Float32Array, Float64Array]) {
    if (!TA.prototype.at) define(TA.prototype, 'at', at);
  }
  if (!Array.prototype.findLast) {
    define(Array.prototype, 'findLast', function (predicate, thisArg) {
      for (let i = this.length - 1; i >= 0; i--) if (ReflectApply(predicate, thisArg, [this[i], i, this])) return this[i];
      return undefined;
    });
  }
  if (!Array.prototype.findLastIndex) {
    define(Array.prototype, 'findLastIndex', function (predicate, thisArg) {
      for (let i = this.length - 1; i >= 0; i--) if (ReflectApply(predicate, thisArg, [this[i], i, this])) return i;
      return -1;
    });
  }
  if (!Object.hasOwn) {
    define(Object, 'hasOwn', (object, key) => ReflectApply(ObjectHasOwnProperty, ObjectCtor(object), [key]));
  }

  if (typeof global.queueMicrotask !== 'function') {
    define(global, 'queueMicrotask', function queueMicrotask(callback) {
      if (typeof callback !== 'function') throw new TypeErrorCtor('queueMicrotask: callback must be a function');
      (async () => { await undefined; callback(); })();
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
  let liveIntl = [];
  if (typeof Intl === 'object' && WeakRefCtor) {
    for (const name of ['Collator', 'DateTimeFormat', 'DisplayNames', 'ListFormat', 'Locale', 'NumberFormat',
                        'PluralRules', 'RelativeTimeFormat', 'Segmenter']) {
      const Original = Intl[name];
      if (typeof Original !== 'function') continue;
      const track = (object) => { append(liveIntl, [name, new WeakRefCtor(object)]); return object; };
      const Wrapped = new Proxy(Original, {
        __proto__: null,
        construct(target, args, newTarget) { return track(ReflectConstruct(target, args, newTarget)); },
        apply(target, thisArg, args) { return track(ReflectApply(target, thisArg, args)); },
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
      __proto__: null,
      construct(target, args, newTarget) { registries++; return ReflectConstruct(target, args, newTarget); },
    }));
  }

  // --- console ---------------------------------------------------------------
  const nativeLog = native.log;
  function format(value) {
    if (typeof value === 'string') return value;
    try {
      if (isError(value)) return value.stack || StringCtor(value);
      if (typeof value === 'function') return `[Function ${value.name || 'anonymous'}]`;
      if (typeof value === 'bigint') return `${value}n`;
      if (typeof value === 'symbol' || typeof value !== 'object' || value === null) return StringCtor(value);
      return JSONStringify(value, (k, v) => typeof v === 'bigint' ? `${v}n` : v);
    } catch (e) {
      try {
        return ReflectApply(ObjectToString, value, []);
      } catch (e2) {
        return '[unprintable]';
      }
    }
  }
  const console = {};
  const levels = ['log', 'info', 'warn', 'error', 'debug'];
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    define(console, level, function (...args) {
      let text = '';
      for (let k = 0; k < args.length; k++) text += (k === 0 ? '' : ' ') + format(args[k]);
      nativeLog(level, text);
    });
  }
  define(global, 'console', console);

  // --- JSON boundary ------------------------------------------------------------
  // Only JSON crosses into or out of task code: functions, symbols, BigInt
  // and cycles are errors rather than silently dropped.
  function toJson(value, what) {
    // The objects being visited, as a list of {v, up} (object literals
    // define their properties: no setter of the task's is involved).
    function check(v, path, parents) {
      const t = typeof v;
      if (t === 'function') throw new TypeErrorCtor(`${what}: a function at ${path} cannot cross the JSON boundary`);
      if (t === 'bigint') throw new TypeErrorCtor(`${what}: a BigInt at ${path} cannot cross the JSON boundary`);
      if (t === 'symbol') throw new TypeErrorCtor(`${what}: a Symbol at ${path} cannot cross the JSON boundary`);
      if (t !== 'object' || v === null) return;
      if (typeof v.toJSON === 'function') return;
      for (let p = parents; p !== null; p = p.up) {
        if (p.v === v) throw new TypeErrorCtor(`${what}: a cycle at ${path} cannot cross the JSON boundary`);
      }
      const here = {v, up: parents};
      if (ArrayIsArray(v)) {
        for (let i = 0; i < v.length; i++) check(v[i], `${path}[${i}]`, here);
      } else {
        const keys = ObjectKeys(v);
        for (let i = 0; i < keys.length; i++) check(v[keys[i]], `${path}.${keys[i]}`, here);
      }
    }
    check(value, what, null);
    const text = JSONStringify(value);
    return text === undefined ? 'null' : text;
  }

  // --- Host calls --------------------------------------------------------------
  const pending = {__proto__: null};  // call id -> {resolve, reject}
  let pendingSize = 0;
  // Calls made since the last suspension, oldest first: a list of
  // {call: [id, service, method, argsJson], next} literals (a 'next' of the
  // literal's own is written, never a setter of the task's).
  let queuedHead = null;
  let queuedTail = null;
  let nextId = 1;

  function callHostTool(service, method, args) {
    if (typeof service !== 'string' || service.length === 0) {
      return rejected(new TypeErrorCtor('__callHostTool__: service must be a non-empty string'));
    }
    if (ArrayIsArray(method)) {
      let dotted = '';
      for (let i = 0; i < method.length; i++) {
        const part = method[i];
        if (typeof part !== 'string' || part.length === 0) {
          return rejected(new TypeErrorCtor('__callHostTool__: method path must be non-empty strings'));
        }
        dotted += (i === 0 ? '' : '.') + part;
      }
      method = dotted;
    }
    if (typeof method !== 'string' || method.length === 0) {
      return rejected(new TypeErrorCtor('__callHostTool__: method must be a dotted string or a path array'));
    }
    let argsJson;
    try {
      argsJson = toJson(args === undefined ? null : args, 'args');
    } catch (e) {
      return rejected(e);
    }
    const id = `c${nextId++}`;
    return new PromiseCtor((resolve, reject) => {
      pending[id] = {resolve, reject};  // own properties: read as they are
      pendingSize++;
      const node = {call: [id, service, method, argsJson], next: null};
      if (queuedTail === null) queuedHead = node; else queuedTail.next = node;
      queuedTail = node;
    });
  }
  define(global, '__callHostTool__', callHostTool);

  class HostCallError extends ErrorCtor {
    constructor(message, code, details) {
      super(message);
      defineEnumerable(this, 'name', 'HostCallError');
      defineEnumerable(this, 'code', code);
      if (details !== undefined) defineEnumerable(this, 'details', details);
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
      const input = JSONParse(inputJson);
      // An async function rather than then(): Promise.prototype.then is the
      // task's to replace.
      runtime.main = (async () => {
        try {
          runtime.value = await fn(input);
          runtime.state = 'fulfilled';
        } catch (e) {
          runtime.value = e;
          runtime.state = 'rejected';
        }
      })();
    },
    // Hands the host the calls made since the last suspension (the head of
    // their list, or null).
    takeCalls() {
      const calls = queuedHead;
      queuedHead = queuedTail = null;
      return calls;
    },
    pendingCount() { return pendingSize; },
    settle(id, ok, resultJson, message, code, detailsJson) {
      const entry = pending[id];
      if (entry === undefined) return false;
      delete pending[id];
      pendingSize--;
      if (ok) {
        entry.resolve(JSONParse(resultJson));
      } else {
        entry.reject(new HostCallError(message, code, detailsJson ? JSONParse(detailsJson) : undefined));
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
      const alive = [];
      for (let i = 0; i < liveIntl.length; i++) {
        if (ReflectApply(WeakRefDeref, liveIntl[i][1], []) !== undefined) append(alive, liveIntl[i]);
      }
      liveIntl = alive;
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
        const keys = ObjectKeys(exported);
        for (let i = 0; i < keys.length; i++) {
          if (typeof exported[keys[i]] === 'function') return exported[keys[i]];
        }
      }
      return undefined;
    },
    errorInfo() {
      const e = runtime.value;
      // Each part on its own: a getter (or Error.prepareStackTrace) that
      // throws loses only its part.
      const read = (part, fallback) => {
        try {
          return StringCtor(part());
        } catch (x) {
          return fallback;
        }
      };
      let error = false;
      try {
        error = isError(e);
      } catch (x) {
        error = false;
      }
      if (error) {
        return [read(() => e.message, '(the error\'s message cannot be read)'), read(() => e.stack || '', ''),
                read(() => e.name || 'Error', 'Error')];
      }
      let text;
      try {
        text = typeof e === 'string' ? e : JSONStringify(e);
        if (text === undefined) text = StringCtor(e);
      } catch (x) {
        try {
          text = StringCtor(e);
        } catch (y) {
          text = '[a value that cannot be printed]';
        }
      }
      return [`Uncaught ${text}`, '', 'Throw'];
    },
  };
  define(global, 'HostCallError', HostCallError);
  return runtime;
})
