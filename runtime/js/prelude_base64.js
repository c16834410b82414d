// Tasker runtime prelude, section "base64": atob, btoa and the base64 of
// fetch. Compiled into a task's context the first time the task touches
// one of them (prelude.js, "Sections compiled on first use"); it uses only
// the intrinsics the prelude captured before the task started.
(function (shared, section) {
  'use strict';

  const {TypeErrorCtor, MathFloor, StringFromCharCode, StringCharCodeAt, Uint8ArrayCtor, TypedArrayLength, domError,
         newText, pushUnit, flushText} = shared;

  // --- Base64 ------------------------------------------------------------------
  const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let base64Values = null;  // code unit -> its value (255: not base64), made on first use
  // bytes[i] may be a Uint8Array or a binary string's units (via at(i)).
  function base64Encode(length, at) {
    let out = '';
    let i = 0;
    for (; i + 2 < length; i += 3) {
      const n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
      out += BASE64[n >> 18] + BASE64[(n >> 12) & 63] + BASE64[(n >> 6) & 63] + BASE64[n & 63];
    }
    if (i + 1 === length) {
      const n = at(i) << 16;
      out += BASE64[n >> 18] + BASE64[(n >> 12) & 63] + '==';
    } else if (i + 2 === length) {
      const n = (at(i) << 16) | (at(i + 1) << 8);
      out += BASE64[n >> 18] + BASE64[(n >> 12) & 63] + BASE64[(n >> 6) & 63] + '=';
    }
    return out;
  }
  const bytesToBase64 = (u8) => base64Encode(TypedArrayLength(u8), (i) => u8[i]);
  // Forgiving-base64 decode (HTML): bytes, or undefined when not base64.
  function base64Decode(s) {
    let clean = '';
    const n = s.length;
    let plain = true;
    for (let i = 0; i < n; i++) {
      const c = StringCharCodeAt(s, i);
      if (c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d || c === 0x20) {
        plain = false;
        break;
      }
    }
    if (plain) {
      clean = s;
    } else {
      for (let i = 0; i < n; i++) {
        const c = StringCharCodeAt(s, i);
        if (!(c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d || c === 0x20)) clean += StringFromCharCode(c);
      }
    }
    if (base64Values === null) {
      base64Values = new Uint8ArrayCtor(128);
      for (let i = 0; i < 128; i++) base64Values[i] = 255;
      for (let i = 0; i < 64; i++) base64Values[StringCharCodeAt(BASE64, i)] = i;
    }
    let length = clean.length;
    if (length % 4 === 0 && length > 0 && StringCharCodeAt(clean, length - 1) === 0x3d) {
      length--;
      if (StringCharCodeAt(clean, length - 1) === 0x3d) length--;
    }
    if (length % 4 === 1) return undefined;
    const out = new Uint8ArrayCtor(MathFloor((length * 3) / 4));
    let bits = 0;
    let count = 0;
    let j = 0;
    for (let i = 0; i < length; i++) {
      const c = StringCharCodeAt(clean, i);
      const v = c < 128 ? base64Values[c] : 255;
      if (v === 255) return undefined;
      bits = (bits << 6) | v;
      count += 6;
      if (count >= 8) {
        count -= 8;
        out[j++] = (bits >> count) & 0xff;
      }
    }
    return out;
  }

  // --- atob / btoa -------------------------------------------------------------
  function btoa(data) {
    if (arguments.length === 0) throw new TypeErrorCtor('btoa: 1 argument required, but only 0 present.');
    const s = `${data}`;
    for (let i = 0; i < s.length; i++) {
      if (StringCharCodeAt(s, i) > 0xff) throw domError('InvalidCharacterError', 'Invalid character');
    }
    return base64Encode(s.length, (i) => StringCharCodeAt(s, i));
  }
  function atob(data) {
    if (arguments.length === 0) throw new TypeErrorCtor('atob: 1 argument required, but only 0 present.');
    const bytes = base64Decode(`${data}`);
    if (bytes === undefined) {
      throw domError('InvalidCharacterError', 'The string to be decoded is not correctly encoded.');
    }
    const t = newText();
    const n = TypedArrayLength(bytes);
    for (let i = 0; i < n; i++) pushUnit(t, bytes[i]);
    return flushText(t);
  }

  return {__proto__: null, atob, btoa, bytesToBase64, base64Decode};
})
