// Tasker runtime prelude, section "clone": structuredClone.
// Compiled into a task's context the first time the task touches one of
// its globals (prelude.js, "Sections compiled on first use"); it uses only
// the intrinsics the prelude captured before the task started.
(function (shared, section) {
  'use strict';

  const {ReflectApply, ObjectDefineProperty, ObjectKeys, ObjectCtor, ObjectToString, ObjectHasOwnProperty,
         ArrayIsArray, TypeErrorCtor, WeakRefDeref, define, defineEnumerable, append, isError,
         ObjectGetOwnPropertyDescriptor, DateCtor, DateGetTime, MapCtor, MapGet, MapSet, MapHas, MapForEach, MapSize,
         SetCtor, SetAdd, SetForEach, SetSize, WeakMapHas, WeakSetHas, RegExpCtor, RegExpSource, regExpFlags,
         BooleanValueOf, NumberValueOf, StringValueOf, BigIntValueOf, SymbolValueOf, ArrayBufferCtor,
         ArrayBufferByteLength, Uint8ArrayCtor, DataViewCtor, DataViewBuffer, DataViewByteOffset, DataViewByteLength,
         TypedArrayBuffer, TypedArrayByteOffset, TypedArrayLength, TypedArraySet, typedArrayCtors, errorCtors,
         hasSlot, isArrayBuffer, isDataView, typedArrayName, domError} = shared;

  // --- structuredClone ---------------------------------------------------------
  // The HTML structured clone of a value, in one pass: cycles and shared
  // references are kept (a Map from each original to its copy).
  function cloneError(what) { return domError('DataCloneError', `${what} could not be cloned.`); }
  function cloneValue(v, memory) {
    const t = typeof v;
    if (t === 'symbol') throw cloneError('A Symbol');
    if (t === 'function') throw cloneError(`function ${typeof v.name === 'string' && v.name ? v.name : '(anonymous)'}`);
    if (t !== 'object' || v === null) return v;
    if (MapHas(memory, v)) return MapGet(memory, v);
    let out;
    if (hasSlot(BooleanValueOf, v)) {
      out = ObjectCtor(BooleanValueOf(v));
    } else if (hasSlot(NumberValueOf, v)) {
      out = ObjectCtor(NumberValueOf(v));
    } else if (hasSlot(StringValueOf, v)) {
      out = ObjectCtor(StringValueOf(v));
    } else if (BigIntValueOf !== undefined && hasSlot(BigIntValueOf, v)) {
      out = ObjectCtor(BigIntValueOf(v));
    } else if (hasSlot(SymbolValueOf, v)) {
      throw cloneError('A Symbol object');
    } else if (hasSlot(DateGetTime, v)) {
      out = new DateCtor(DateGetTime(v));
    } else if (hasSlot(RegExpSource, v)) {
      let flags = '';
      for (let i = 0; i < regExpFlags.length; i++) if (regExpFlags[i][1](v)) flags += regExpFlags[i][0];
      out = new RegExpCtor(RegExpSource(v), flags);
    } else if (isArrayBuffer(v)) {
      const source = new Uint8ArrayCtor(v, 0, ArrayBufferByteLength(v));
      out = new ArrayBufferCtor(ArrayBufferByteLength(v));
      TypedArraySet(new Uint8ArrayCtor(out), source);
    } else if (typedArrayName(v) !== undefined) {
      const buffer = cloneValue(TypedArrayBuffer(v), memory);
      out = new typedArrayCtors[typedArrayName(v)](buffer, TypedArrayByteOffset(v), TypedArrayLength(v));
    } else if (isDataView(v)) {
      const buffer = cloneValue(DataViewBuffer(v), memory);
      out = new DataViewCtor(buffer, DataViewByteOffset(v), DataViewByteLength(v));
    } else if (hasSlot(MapSize, v)) {
      out = new MapCtor();
      MapSet(memory, v, out);
      const entries = [];
      MapForEach(v, (value, key) => append(entries, [key, value]));
      for (let i = 0; i < entries.length; i++) {
        MapSet(out, cloneValue(entries[i][0], memory), cloneValue(entries[i][1], memory));
      }
      return out;
    } else if (hasSlot(SetSize, v)) {
      out = new SetCtor();
      MapSet(memory, v, out);
      const values = [];
      SetForEach(v, (value) => append(values, value));
      for (let i = 0; i < values.length; i++) SetAdd(out, cloneValue(values[i], memory));
      return out;
    } else if (isError(v)) {
      let name = v.name;
      if (typeof name !== 'string' || !(name in errorCtors)) name = 'Error';
      const message = ObjectGetOwnPropertyDescriptor(v, 'message');
      out = message !== undefined && ReflectApply(ObjectHasOwnProperty, message, ['value'])
          ? new errorCtors[name](`${message.value}`)
          : new errorCtors[name]();
      const stack = ObjectGetOwnPropertyDescriptor(v, 'stack');
      if (stack !== undefined && typeof stack.value === 'string') define(out, 'stack', stack.value);
      MapSet(memory, v, out);
      const cause = ObjectGetOwnPropertyDescriptor(v, 'cause');
      if (cause !== undefined && ReflectApply(ObjectHasOwnProperty, cause, ['value'])) {
        define(out, 'cause', cloneValue(cause.value, memory));
      }
      return out;
    } else if (hasSlot(WeakMapHas, v) || hasSlot(WeakSetHas, v) ||
               (WeakRefDeref !== undefined && hasSlot(WeakRefDeref, v))) {
      throw cloneError(`#<${ReflectApply(ObjectToString, v, [])}>`);
    } else if (ArrayIsArray(v)) {
      out = [];
      ObjectDefineProperty(out, 'length', {__proto__: null, value: v.length});
      MapSet(memory, v, out);
      const keys = ObjectKeys(v);
      for (let i = 0; i < keys.length; i++) defineEnumerable(out, keys[i], cloneValue(v[keys[i]], memory));
      return out;
    } else {
      out = {};
      MapSet(memory, v, out);
      const keys = ObjectKeys(v);
      for (let i = 0; i < keys.length; i++) defineEnumerable(out, keys[i], cloneValue(v[keys[i]], memory));
      return out;
    }
    MapSet(memory, v, out);
    return out;
  }
  function structuredClone(value, options = undefined) {
    if (arguments.length === 0) throw new TypeErrorCtor('structuredClone: 1 argument required, but only 0 present.');
    if (options !== undefined && options !== null) {
      const transfer = options.transfer;
      if (transfer !== undefined && transfer !== null && transfer.length > 0) {
        throw domError('DataCloneError', 'structuredClone: transferring is not supported');
      }
    }
    return cloneValue(value, new MapCtor());
  }

  return {__proto__: null, structuredClone};
})
