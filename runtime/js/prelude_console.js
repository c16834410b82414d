// Tasker runtime prelude, section "console": console.table, trace, assert,
// dir, time/timeLog/timeEnd, count/countReset and group/groupEnd.
// Compiled into a task's context the first time the task calls one of them
// (prelude.js, "Sections compiled on first use"); it uses only the
// intrinsics the prelude captured before the task started.
(function (shared, section) {
  'use strict';

  const {ReflectApply, ObjectKeys, ObjectHasOwnProperty, ArrayIsArray, append, MathMax, DateNow, StringRepeat,
         ErrorCaptureStackTrace, MapCtor, MapGet, MapSet, MapHas, MapDelete, MapForEach, MapSize, SetForEach, SetSize,
         isObject, hasSlot, format, emit, formatArgs, groupIndentBy} = shared;

  function dir(value) { emit('log', format(value)); }
  function dirxml(...args) { emit('log', formatArgs(args)); }
  function assert(condition, ...args) {
    if (!condition) emit('error', args.length === 0 ? 'Assertion failed' : `Assertion failed: ${formatArgs(args)}`);
  }
  // (The stack starts below `stub`, console.trace itself.)
  function trace(stub, args) {
    const holder = {__proto__: null, name: 'Trace', message: formatArgs(args)};
    ErrorCaptureStackTrace(holder, stub);
    emit('error', `${holder.stack}`);
  }
  // Durations come from Date.now(): the step's journaled clock (0 ms within
  // one step; across host calls, the time between the steps).
  const timings = new MapCtor();  // label -> start
  const counts = new MapCtor();   // label -> count
  function time(label = 'default') {
    label = `${label}`;
    if (MapHas(timings, label)) return emit('warn', `Timer '${label}' already exists`);
    MapSet(timings, label, DateNow());
  }
  function timeLog(label = 'default', ...data) {
    label = `${label}`;
    if (!MapHas(timings, label)) return emit('warn', `Timer '${label}' does not exist`);
    emit('info', `${label}: ${DateNow() - MapGet(timings, label)}ms` + (data.length > 0 ? ' ' + formatArgs(data) : ''));
  }
  function timeEnd(label = 'default') {
    label = `${label}`;
    if (!MapHas(timings, label)) return emit('warn', `Timer '${label}' does not exist`);
    const elapsed = DateNow() - MapGet(timings, label);
    MapDelete(timings, label);
    emit('info', `${label}: ${elapsed}ms`);
  }
  function count(label = 'default') {
    label = `${label}`;
    MapSet(counts, label, (MapHas(counts, label) ? MapGet(counts, label) : 0) + 1);
    emit('info', `${label}: ${MapGet(counts, label)}`);
  }
  function countReset(label = 'default') {
    label = `${label}`;
    if (!MapHas(counts, label)) return emit('warn', `Count for '${label}' does not exist`);
    MapSet(counts, label, 0);
  }
  function group(...label) {
    if (label.length > 0) emit('log', formatArgs(label));
    groupIndentBy(1);
  }
  function groupEnd() {
    groupIndentBy(-1);
  }
  // A table drawn as Node draws it.
  function table(data, columns = undefined) {
    if (!isObject(data)) return emit('log', format(data));
    const cell = (v) => (typeof v === 'string' ? `'${v}'` : format(v));
    let indexHeader = '(index)';
    const rows = [];  // [index, value, key (Maps)]
    if (hasSlot(MapSize, data)) {
      indexHeader = '(iteration index)';
      let i = 0;
      MapForEach(data, (value, key) => append(rows, [`${i++}`, value, key]));
    } else if (hasSlot(SetSize, data)) {
      indexHeader = '(iteration index)';
      let i = 0;
      SetForEach(data, (value) => append(rows, [`${i++}`, value]));
    } else {
      const keys = ObjectKeys(data);
      for (let i = 0; i < keys.length; i++) append(rows, [keys[i], data[keys[i]]]);
    }
    const header = [indexHeader];
    const isMap = indexHeader === '(iteration index)' && rows.length > 0 && rows[0].length === 3;
    if (isMap) append(header, 'Key');
    const keyColumns = [];
    const seen = {__proto__: null};
    let hasValues = false;
    for (let r = 0; r < rows.length; r++) {
      const value = rows[r][1];
      if (isObject(value) && typeof value !== 'function') {
        const keys = ObjectKeys(value);
        for (let k = 0; k < keys.length; k++) {
          if (!(keys[k] in seen)) {
            seen[keys[k]] = true;
            append(keyColumns, keys[k]);
          }
        }
      } else {
        hasValues = true;
      }
    }
    let shown = keyColumns;
    if (ArrayIsArray(columns)) {
      shown = [];
      for (let i = 0; i < columns.length; i++) append(shown, `${columns[i]}`);
    }
    for (let i = 0; i < shown.length; i++) append(header, shown[i]);
    if (hasValues) append(header, 'Values');
    const lines = [];
    for (let r = 0; r < rows.length; r++) {
      const value = rows[r][1];
      const line = [rows[r][0]];
      if (isMap) append(line, cell(rows[r][2]));
      const object = isObject(value) && typeof value !== 'function';
      for (let i = 0; i < shown.length; i++) {
        append(line, object && ReflectApply(ObjectHasOwnProperty, value, [shown[i]]) ? cell(value[shown[i]]) : '');
      }
      if (hasValues) append(line, object ? '' : cell(value));
      append(lines, line);
    }
    const widths = [];
    for (let c = 0; c < header.length; c++) {
      let w = header[c].length;
      for (let r = 0; r < lines.length; r++) w = MathMax(w, lines[r][c].length);
      append(widths, w + 2);
    }
    // Box drawing, as \u escapes: the prelude's source stays one-byte.
    const rule = (left, mid, right) => {
      let s = left;
      for (let c = 0; c < widths.length; c++) {
        s += StringRepeat('\u2500', widths[c]) + (c + 1 < widths.length ? mid : right);
      }
      return s;
    };
    const row = (cells) => {
      let s = '\u2502';
      for (let c = 0; c < widths.length; c++) {
        s += ' ' + cells[c] + StringRepeat(' ', widths[c] - 1 - cells[c].length) + '\u2502';
      }
      return s;
    };
    let out = rule('\u250c', '\u252c', '\u2510') + '\n' + row(header) + '\n' + rule('\u251c', '\u253c', '\u2524');
    for (let r = 0; r < lines.length; r++) out += '\n' + row(lines[r]);
    emit('log', out + '\n' + rule('\u2514', '\u2534', '\u2518'));
  }

  // Each is called by its console stub as (stub, args).
  const method = (fn) => (stub, args) => ReflectApply(fn, undefined, args);
  return {
    __proto__: null, dir: method(dir), dirxml: method(dirxml), assert: method(assert), trace, time: method(time),
    timeLog: method(timeLog), timeEnd: method(timeEnd), count: method(count), countReset: method(countReset),
    group: method(group), groupCollapsed: method(group), groupEnd: method(groupEnd), table: method(table),
  };
})
