// Tasker runtime prelude: runs once in every new task context, before the
// task's code. It restores builtins that V8 10.2's snapshot-creator isolates
// lack, routes nondeterminism (Math.random, crypto, timers, fetch) and
// console output through the host, defines __callHostTool__ and the task
// globals of the old platform (some compiled on first use: the sections,
// prelude_<name>.js), and evaluates to the runtime object the host keeps in
// the snapshot (context data slot 0).
//
// `native` holds the host's functions: log(level, text) and
// load(section, shared, section loader), and is not reachable from task code
// after this returns.
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

  // ==========================================================================
  // Task globals of the old platform (issue 14): timers, crypto, URL,
  // URLSearchParams, TextEncoder/TextDecoder, atob/btoa, structuredClone,
  // fetch with Headers/Request/Response, more of console, and `tools`.
  // Same rules as above: they use only intrinsics captured here, state lives
  // in the heap (private fields, closures, null-prototype records), so a
  // checkpoint carries it, and their nondeterminism goes through the one
  // seam (host calls, the journaled clock, the seeded generator).
  // ==========================================================================

  // --- More intrinsics ---------------------------------------------------------
  const uncurryThis = (fn) => (self, ...args) => ReflectApply(fn, self, args);
  const ObjectGetPrototypeOf = Object.getPrototypeOf;
  const ObjectSetPrototypeOf = Object.setPrototypeOf;
  const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const getterOf = (object, name) => uncurryThis(ObjectGetOwnPropertyDescriptor(object, name).get);
  const SymbolIterator = Symbol.iterator;
  const SymbolToStringTag = Symbol.toStringTag;
  const NumberCtor = Number;
  const NumberIsFinite = Number.isFinite;
  const NumberToString = uncurryThis(Number.prototype.toString);
  const MathFloor = Math.floor;
  const MathTrunc = Math.trunc;
  const MathMax = Math.max;
  const DateNow = Date.now;
  const DateCtor = Date;
  const DateGetTime = uncurryThis(Date.prototype.getTime);
  const StringFromCharCode = String.fromCharCode;
  // A code point as a string. Not String.fromCodePoint: in this V8 build
  // some strings it makes (U+0061 'a', 'b', 'g', 'i', 'u') leave a heap that
  // cannot be restored from a snapshot while another isolate is alive in the
  // process (a crash in V8; see runtime/README.md). For the same reason the
  // runtime does not use strings it makes as property keys: lookups by a
  // runtime string go through Maps or comparisons.
  const StringFromCodePoint = (c) =>
      (c < 0x10000 ? StringFromCharCode(c) : StringFromCharCode(0xd800 + ((c - 0x10000) >> 10), 0xdc00 + (c & 0x3ff)));
  const StringCharCodeAt = uncurryThis(String.prototype.charCodeAt);
  const StringSlice = uncurryThis(String.prototype.slice);
  const StringIndexOf = uncurryThis(String.prototype.indexOf);
  const StringToLowerCase = uncurryThis(String.prototype.toLowerCase);
  const StringToUpperCase = uncurryThis(String.prototype.toUpperCase);
  const StringNormalize = uncurryThis(String.prototype.normalize);
  const StringRepeat = uncurryThis(String.prototype.repeat);
  const RangeErrorCtor = RangeError;
  const ErrorCaptureStackTrace = Error.captureStackTrace;
  const ProxyCtor = Proxy;
  const MapCtor = Map;
  const MapGet = uncurryThis(Map.prototype.get);
  const MapSet = uncurryThis(Map.prototype.set);
  const MapHas = uncurryThis(Map.prototype.has);
  const MapDelete = uncurryThis(Map.prototype.delete);
  const MapForEach = uncurryThis(Map.prototype.forEach);
  const MapSize = getterOf(Map.prototype, 'size');
  const SetCtor = Set;
  const SetAdd = uncurryThis(Set.prototype.add);
  const SetForEach = uncurryThis(Set.prototype.forEach);
  const SetSize = getterOf(Set.prototype, 'size');
  const WeakMapHas = uncurryThis(WeakMap.prototype.has);
  const WeakSetHas = uncurryThis(WeakSet.prototype.has);
  const RegExpCtor = RegExp;
  const RegExpSource = getterOf(RegExp.prototype, 'source');
  // [flag letter, getter], in the order RegExp.prototype.flags writes them.
  const regExpFlags = [
    ['d', getterOf(RegExp.prototype, 'hasIndices')], ['g', getterOf(RegExp.prototype, 'global')],
    ['i', getterOf(RegExp.prototype, 'ignoreCase')], ['m', getterOf(RegExp.prototype, 'multiline')],
    ['s', getterOf(RegExp.prototype, 'dotAll')], ['u', getterOf(RegExp.prototype, 'unicode')],
    ['y', getterOf(RegExp.prototype, 'sticky')],
  ];
  const BooleanValueOf = uncurryThis(Boolean.prototype.valueOf);
  const NumberValueOf = uncurryThis(Number.prototype.valueOf);
  const StringValueOf = uncurryThis(String.prototype.valueOf);
  const BigIntValueOf = typeof BigInt === 'function' ? uncurryThis(BigInt.prototype.valueOf) : undefined;
  const SymbolValueOf = uncurryThis(Symbol.prototype.valueOf);
  const ArrayBufferCtor = ArrayBuffer;
  const ArrayBufferByteLength = getterOf(ArrayBuffer.prototype, 'byteLength');
  const Uint8ArrayCtor = Uint8Array;
  const DataViewCtor = DataView;
  const DataViewBuffer = getterOf(DataView.prototype, 'buffer');
  const DataViewByteOffset = getterOf(DataView.prototype, 'byteOffset');
  const DataViewByteLength = getterOf(DataView.prototype, 'byteLength');
  const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
  const TypedArrayBuffer = getterOf(TypedArrayPrototype, 'buffer');
  const TypedArrayByteOffset = getterOf(TypedArrayPrototype, 'byteOffset');
  const TypedArrayByteLength = getterOf(TypedArrayPrototype, 'byteLength');
  const TypedArrayLength = getterOf(TypedArrayPrototype, 'length');
  const TypedArrayName = getterOf(TypedArrayPrototype, SymbolToStringTag);  // undefined for anything else
  const TypedArraySet = uncurryThis(TypedArrayPrototype.set);
  const typedArrayCtors = {
    __proto__: null, Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
    Float32Array, Float64Array, BigInt64Array, BigUint64Array,
  };
  const IteratorPrototype = ObjectGetPrototypeOf(ObjectGetPrototypeOf([][SymbolIterator]()));
  const errorCtors = {
    __proto__: null, Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError,
  };

  // --- Helpers -----------------------------------------------------------------
  const isObject = (v) => (typeof v === 'object' && v !== null) || typeof v === 'function';
  // Brand checks by internal slot (a getter that throws for anything else).
  const hasSlot = (getter, v) => {
    if (!isObject(v)) return false;
    try {
      getter(v);
      return true;
    } catch (e) {
      return false;
    }
  };
  const isArrayBuffer = (v) => hasSlot(ArrayBufferByteLength, v);
  const isDataView = (v) => hasSlot(DataViewByteLength, v);
  const typedArrayName = (v) => (isObject(v) ? TypedArrayName(v) : undefined);

  // Errors with the names browsers give DOMExceptions (there is no
  // DOMException global here).
  const domCodes = {
    __proto__: null, InvalidCharacterError: 5, NotSupportedError: 9, TypeMismatchError: 17, QuotaExceededError: 22,
    DataCloneError: 25,
  };
  function domError(name, message) {
    const e = new ErrorCtor(message);
    define(e, 'name', name);
    define(e, 'code', domCodes[name] || 0);
    return e;
  }

  // Strings from code units, 8192 at a time: String.fromCharCode applied to
  // a null-prototype array-like (no setter or getter of the task's runs).
  function newText() { return {__proto__: null, text: '', units: {__proto__: null, length: 0}}; }
  function pushUnit(t, unit) {
    const units = t.units;
    const k = units.length;
    units[k] = unit;
    units.length = k + 1;
    if (k + 1 === 8192) flushText(t);
  }
  function pushCodePoint(t, cp) {
    if (cp > 0xffff) {
      cp -= 0x10000;
      pushUnit(t, 0xd800 + (cp >> 10));
      pushUnit(t, 0xdc00 + (cp & 0x3ff));
    } else {
      pushUnit(t, cp);
    }
  }
  function flushText(t) {
    if (t.units.length > 0) {
      t.text += ReflectApply(StringFromCharCode, undefined, t.units);
      t.units.length = 0;
    }
    return t.text;
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
  // console.group() indents what follows, two spaces a level.
  let groupIndent = '';
  function emit(level, text) {
    if (groupIndent !== '') {
      let indented = groupIndent;
      for (let i = 0; i < text.length; i++) {
        const c = text[i];
        indented += c === '\n' ? '\n' + groupIndent : c;
      }
      text = indented;
    }
    nativeLog(level, text);
  }
  function formatArgs(args) {
    let text = '';
    for (let k = 0; k < args.length; k++) text += (k === 0 ? '' : ' ') + format(args[k]);
    return text;
  }
  // The rest of console is the section "console", loaded on first use: each
  // of its methods is handed the stub the task called (console.trace's stack
  // starts below it) and the arguments.
  const extra = (name, stub, args) => section('console')[name](stub, args);
  const console = {
    log(...args) { emit('log', formatArgs(args)); },
    info(...args) { emit('info', formatArgs(args)); },
    warn(...args) { emit('warn', formatArgs(args)); },
    error(...args) { emit('error', formatArgs(args)); },
    debug(...args) { emit('debug', formatArgs(args)); },
    dir(...args) { return extra('dir', undefined, args); },
    dirxml(...args) { return extra('dirxml', undefined, args); },
    assert(...args) { return extra('assert', undefined, args); },
    trace(...args) { return extra('trace', traceStub, args); },
    time(...args) { return extra('time', undefined, args); },
    timeLog(...args) { return extra('timeLog', undefined, args); },
    timeEnd(...args) { return extra('timeEnd', undefined, args); },
    count(...args) { return extra('count', undefined, args); },
    countReset(...args) { return extra('countReset', undefined, args); },
    group(...args) { return extra('group', undefined, args); },
    groupCollapsed(...args) { return extra('groupCollapsed', undefined, args); },
    groupEnd(...args) { return extra('groupEnd', undefined, args); },
    table(...args) { return extra('table', undefined, args); },
  };
  const traceStub = console.trace;
  const groupIndentBy = (delta) => {
    groupIndent = delta > 0 ? groupIndent + '  ' : StringSlice(groupIndent, 2);
  };
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

  // Queues a call (its args already JSON) and returns its promise.
  function queueCall(service, method, argsJson) {
    const id = `c${nextId++}`;
    return new PromiseCtor((resolve, reject) => {
      pending[id] = {resolve, reject};  // own properties: read as they are
      pendingSize++;
      const node = {call: [id, service, method, argsJson], next: null};
      if (queuedTail === null) queuedHead = node; else queuedTail.next = node;
      queuedTail = node;
    });
  }

  // __callHostTool__(service, method, ...args): no args -> null, one -> that
  // value (the single-object form), several -> the array of them (the old
  // platform's positional form: ('keystore', 'getKey', 'ns', 'key') sends
  // ["ns","key"]).
  function callHostTool(service, method, ...rest) {
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
    const args = rest.length === 0 ? null : rest.length === 1 ? rest[0] : rest;
    let argsJson;
    try {
      argsJson = toJson(args === undefined ? null : args, 'args');
    } catch (e) {
      return rejected(e);
    }
    return queueCall(service, method, argsJson);
  }
  define(global, '__callHostTool__', callHostTool);

  // --- crypto ------------------------------------------------------------------
  // From the same seeded generator as Math.random: deterministic on replay,
  // and NOT cryptographically secure. crypto.subtle is not provided (no
  // WebCrypto: hashing, signing and keys belong in a host service).
  const HEX = '0123456789abcdef';
  const hex8 = (w) => {
    let s = '';
    for (let shift = 28; shift >= 0; shift -= 4) s += HEX[(w >>> shift) & 15];
    return s;
  };
  const integerArrays = {
    __proto__: null, Int8Array: 1, Uint8Array: 1, Uint8ClampedArray: 1, Int16Array: 1, Uint16Array: 1, Int32Array: 1,
    Uint32Array: 1, BigInt64Array: 1, BigUint64Array: 1,
  };
  const crypto = {
    [SymbolToStringTag]: 'Crypto',
    randomUUID() {
    const a = nextUint32();
    const b = ((nextUint32() & 0xffff0fff) | 0x4000) >>> 0;  // version 4
    const c = ((nextUint32() & 0x3fffffff) | 0x80000000) >>> 0;  // variant 10
    const d = nextUint32();
    const bs = hex8(b);
    const cs = hex8(c);
    return `${hex8(a)}-${StringSlice(bs, 0, 4)}-${StringSlice(bs, 4)}-${StringSlice(cs, 0, 4)}-` +
           `${StringSlice(cs, 4)}${hex8(d)}`;
    },
    getRandomValues(array) {
    const name = typedArrayName(array);
    if (name === undefined || !(name in integerArrays)) {
      throw domError('TypeMismatchError', 'crypto.getRandomValues: the argument must be an integer typed array');
    }
    const size = TypedArrayByteLength(array);
    if (size > 65536) {
      throw domError('QuotaExceededError', `The ArrayBufferView's byte length (${size}) exceeds the number of bytes ` +
                                           'of entropy available via this API (65536)');
    }
    const bytes = new Uint8ArrayCtor(TypedArrayBuffer(array), TypedArrayByteOffset(array), size);
    for (let i = 0; i < size; i += 4) {
      const w = nextUint32();
      bytes[i] = w & 0xff;
      if (i + 1 < size) bytes[i + 1] = (w >>> 8) & 0xff;
      if (i + 2 < size) bytes[i + 2] = (w >>> 16) & 0xff;
      if (i + 3 < size) bytes[i + 3] = w >>> 24;
    }
    return array;
    },
  };

  // --- Timers --------------------------------------------------------------------
  // A timer is a host call, __callHostTool__('timer', 'sleep', {ms}): durable
  // (the run waits like for any host call, across restarts) and journaled (a
  // replay fires timers in the order their calls were answered). Its callback
  // runs when the call is answered, unless the timer was cleared meanwhile;
  // an interval makes a new call after each firing. A run completes when its
  // main function does, whatever timers are still pending (their calls are
  // never answered into it).
  const timers = {__proto__: null};  // id -> {active}
  let nextTimerId = 1;
  function timerDelay(ms) {
    // Integer milliseconds, >= 0; what is not a finite number is 0.
    return typeof ms === 'number' && NumberIsFinite(ms) && ms > 0 ? MathTrunc(ms) : 0;
  }
  function startTimer(what, repeat, callback, ms, args) {
    if (typeof callback !== 'function') {
      throw new TypeErrorCtor(`${what}: the callback must be a function (code strings are not evaluated)`);
    }
    const id = nextTimerId++;
    const timer = {__proto__: null, active: true};
    timers[id] = timer;
    const argsJson = `{"ms":${timerDelay(ms)}}`;
    (async () => {
      do {
        try {
          await queueCall('timer', 'sleep', argsJson);
        } catch (e) {
          if (timer.active) nativeLog('error', `${what}: the timer failed: ${format(e)}`);
          break;
        }
        if (!timer.active) break;
        if (!repeat) {
          timer.active = false;
          delete timers[id];
        }
        try {
          ReflectApply(callback, global, args);
        } catch (e) {
          // As browsers report an uncaught error in a timer: the run goes on.
          nativeLog('error', `Uncaught (in ${what} callback) ${format(e)}`);
        }
      } while (timer.active);
      delete timers[id];
    })();
    return id;
  }
  function clearTimer(id) {
    const key = typeof id === 'number' ? id : typeof id === 'string' ? NumberCtor(id) : NaN;
    const timer = timers[key];
    if (timer !== undefined) {
      timer.active = false;
      delete timers[key];
    }
  }
  function setTimeout(callback, ms = 0, ...args) { return startTimer('setTimeout', false, callback, ms, args); }
  function setInterval(callback, ms = 0, ...args) { return startTimer('setInterval', true, callback, ms, args); }
  function clearTimeout(id = undefined) { clearTimer(id); }
  function clearInterval(id = undefined) { clearTimer(id); }

  // --- Sections compiled on first use ---------------------------------------------
  // Most globals (URL and URLSearchParams, fetch and its classes,
  // TextEncoder/TextDecoder, structuredClone, atob/btoa, tools and database,
  // the rest of console) are sections of the runtime's source
  // (prelude_<name>.js) that the host compiles into the context when the
  // task first touches one of them (native.load): a task that never does
  // pays neither their start-up time nor their place in its checkpoints. A
  // section is a function of `shared` (intrinsics and helpers captured here,
  // before the task ran) and `section` (to load the sections it needs); it
  // returns its exports. Loading is deterministic (replays load it at the
  // same point) and its state lives in the heap like the task's.
  const nativeLoad = native.load;
  // Made when the first section loads (not at every start).
  let shared = null;
  const makeShared = () => ({
    __proto__: null, ReflectApply, ObjectDefineProperty, ObjectKeys, ObjectCtor, ObjectToString, ObjectHasOwnProperty,
    ArrayIsArray, JSONStringify, JSONParse, TypeErrorCtor, WeakRefDeref, define, defineEnumerable, append, isError,
    rejected, ObjectSetPrototypeOf, ObjectGetOwnPropertyDescriptor, getterOf, SymbolIterator, SymbolToStringTag,
    NumberCtor, NumberToString, MathFloor, MathTrunc, MathMax, DateNow, DateCtor, DateGetTime, StringFromCharCode,
    StringFromCodePoint, StringCharCodeAt, StringSlice, StringIndexOf, StringToLowerCase, StringToUpperCase,
    StringNormalize, StringRepeat, RangeErrorCtor, ErrorCaptureStackTrace, ProxyCtor, MapCtor, MapGet, MapSet, MapHas,
    MapDelete, MapForEach, MapSize, SetCtor, SetAdd, SetForEach, SetSize, WeakMapHas, WeakSetHas, RegExpCtor,
    RegExpSource, regExpFlags, BooleanValueOf, NumberValueOf, StringValueOf, BigIntValueOf, SymbolValueOf,
    ArrayBufferCtor, ArrayBufferByteLength, Uint8ArrayCtor, DataViewCtor, DataViewBuffer, DataViewByteOffset,
    DataViewByteLength, TypedArrayBuffer, TypedArrayByteOffset, TypedArrayByteLength, TypedArrayLength, TypedArraySet,
    typedArrayCtors, IteratorPrototype, errorCtors, isObject, hasSlot, isArrayBuffer, isDataView, typedArrayName,
    domError, newText, pushUnit, pushCodePoint, flushText, format, emit, formatArgs, groupIndentBy, toJson, queueCall,
    callHostTool,
  });
  const sections = {__proto__: null};
  function section(name) {
    let exports = sections[name];
    if (exports === undefined) {
      if (shared === null) shared = makeShared();
      exports = nativeLoad(name, shared, section);
      sections[name] = exports;
    }
    return exports;
  }
  // Each global is an accessor until first read, then a data property.
  const lazyGlobals = {
    __proto__: null, TextEncoder: 'encoding', TextDecoder: 'encoding', structuredClone: 'clone', URL: 'url',
    URLSearchParams: 'url', fetch: 'fetch', Headers: 'fetch', Request: 'fetch', Response: 'fetch', atob: 'base64',
    btoa: 'base64', tools: 'tools', database: 'tools',
  };

  define(global, 'setTimeout', setTimeout);
  define(global, 'setInterval', setInterval);
  define(global, 'clearTimeout', clearTimeout);
  define(global, 'clearInterval', clearInterval);
  define(global, 'crypto', crypto);
  const lazyNames = ObjectKeys(lazyGlobals);
  for (let i = 0; i < lazyNames.length; i++) {
    const name = lazyNames[i];
    ObjectDefineProperty(global, name, {
      __proto__: null,
      configurable: true,
      enumerable: false,
      get() {
        const loaded = section(lazyGlobals[name])[name];
        define(global, name, loaded);
        return loaded;
      },
      set(replacement) { define(global, name, replacement); },
    });
  }

  class HostCallError extends ErrorCtor {
    constructor(message, code, details) {
      super(message);
      defineEnumerable(this, 'name', 'HostCallError');
      defineEnumerable(this, 'code', code);
      if (details !== undefined) defineEnumerable(this, 'details', details);
    }
  }

  const taskContext = {};
  ObjectDefineProperty(taskContext, 'tools', {
    __proto__: null, enumerable: true, configurable: true, get() { return global.tools; },
  });
  const runtime = {
    // The number of host calls made so far ("call N" of the journal).
    callsMade() { return nextId - 1; },
    // Set by the host: the task's top-level promise and its outcome.
    main: undefined,
    state: 'pending',
    value: undefined,
    // Runs the task function and records the outcome of its promise.
    // The second argument of the task function: what the old platform
    // passed (`async function (input, { tools })`), read when used.
    run(fn, inputJson, seedHi, seedLo) {
      seedRandom(seedHi >>> 0, seedLo >>> 0);
      const input = JSONParse(inputJson);
      // An async function rather than then(): Promise.prototype.then is the
      // task's to replace.
      runtime.main = (async () => {
        try {
          runtime.value = await fn(input, taskContext);
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
