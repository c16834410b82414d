// Tasker runtime prelude, section "encoding": TextEncoder and TextDecoder
// (UTF-8, UTF-16LE, windows-1252), and the UTF-8 helpers of the other
// sections.
// Compiled into a task's context the first time the task touches one of
// its globals (prelude.js, "Sections compiled on first use"); it uses only
// the intrinsics the prelude captured before the task started.
(function (shared, section) {
  'use strict';

  const {ObjectKeys, TypeErrorCtor, define, SymbolToStringTag, StringFromCharCode, StringCharCodeAt, StringSlice,
         StringIndexOf, StringToLowerCase, RangeErrorCtor, MapCtor, MapGet, MapSet, ArrayBufferByteLength,
         Uint8ArrayCtor, DataViewBuffer, DataViewByteOffset, DataViewByteLength, TypedArrayBuffer,
         TypedArrayByteOffset, TypedArrayByteLength, TypedArrayLength, TypedArraySet, isArrayBuffer, isDataView,
         typedArrayName, newText, pushUnit, pushCodePoint, flushText} = shared;

  // A value as a USVString: its string form with lone surrogates as U+FFFD.
  function toUSV(value) {
    const s = `${value}`;
    const n = s.length;
    let i = 0;
    for (; i < n; i++) {
      const c = StringCharCodeAt(s, i);
      if (c >= 0xd800 && c <= 0xdfff) break;
    }
    if (i === n) return s;
    let out = StringSlice(s, 0, i);
    for (; i < n; i++) {
      const c = StringCharCodeAt(s, i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const d = StringCharCodeAt(s, i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          out += StringFromCharCode(c, d);
          i++;
          continue;
        }
      }
      out += c >= 0xd800 && c <= 0xdfff ? '\ufffd' : StringFromCharCode(c);
    }
    return out;
  }

  // UTF-8 of a string (lone surrogates as U+FFFD).
  function utf8Encode(s) {
    const n = s.length;
    let size = 0;
    for (let i = 0; i < n; i++) {
      const c = StringCharCodeAt(s, i);
      if (c < 0x80) {
        size += 1;
      } else if (c < 0x800) {
        size += 2;
      } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (StringCharCodeAt(s, i + 1) & 0xfc00) === 0xdc00) {
        size += 4;
        i++;
      } else {
        size += 3;
      }
    }
    const out = new Uint8ArrayCtor(size);
    utf8Write(s, out, size);
    return out;
  }
  // Writes whole code points of s into out (up to `room` bytes): [units read, bytes written].
  function utf8Write(s, out, room) {
    const n = s.length;
    let j = 0;
    let i = 0;
    for (; i < n; i++) {
      let c = StringCharCodeAt(s, i);
      if (c < 0x80) {
        if (j + 1 > room) break;
        out[j++] = c;
      } else if (c < 0x800) {
        if (j + 2 > room) break;
        out[j++] = 0xc0 | (c >> 6);
        out[j++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (StringCharCodeAt(s, i + 1) & 0xfc00) === 0xdc00) {
        if (j + 4 > room) break;
        c = 0x10000 + ((c - 0xd800) << 10) + (StringCharCodeAt(s, i + 1) - 0xdc00);
        out[j++] = 0xf0 | (c >> 18);
        out[j++] = 0x80 | ((c >> 12) & 0x3f);
        out[j++] = 0x80 | ((c >> 6) & 0x3f);
        out[j++] = 0x80 | (c & 0x3f);
        i++;
      } else {
        if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
        if (j + 3 > room) break;
        out[j++] = 0xe0 | (c >> 12);
        out[j++] = 0x80 | ((c >> 6) & 0x3f);
        out[j++] = 0x80 | (c & 0x3f);
      }
    }
    return [i, j];
  }

  // The WHATWG UTF-8 decoder over bytes[start, end); `d` carries its state
  // between chunks (streaming). Malformed input: U+FFFD per maximal
  // subpart, or a TypeError when fatal.
  function newUtf8State() { return {__proto__: null, cp: 0, needed: 0, seen: 0, lower: 0x80, upper: 0xbf}; }
  function utf8DecodeInto(t, d, bytes, start, end, fatal, flush) {
    for (let i = start; i < end; i++) {
      const b = bytes[i];
      if (d.needed === 0) {
        if (b <= 0x7f) {
          pushUnit(t, b);
        } else if (b >= 0xc2 && b <= 0xdf) {
          d.needed = 1;
          d.cp = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) d.lower = 0xa0;
          if (b === 0xed) d.upper = 0x9f;
          d.needed = 2;
          d.cp = b & 0xf;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) d.lower = 0x90;
          if (b === 0xf4) d.upper = 0x8f;
          d.needed = 3;
          d.cp = b & 0x7;
        } else {
          if (fatal) throw new TypeErrorCtor('The encoded data was not valid for encoding utf-8');
          pushUnit(t, 0xfffd);
        }
        continue;
      }
      if (b < d.lower || b > d.upper) {
        d.cp = d.needed = d.seen = 0;
        d.lower = 0x80;
        d.upper = 0xbf;
        if (fatal) throw new TypeErrorCtor('The encoded data was not valid for encoding utf-8');
        pushUnit(t, 0xfffd);
        i--;  // the byte starts anew
        continue;
      }
      d.lower = 0x80;
      d.upper = 0xbf;
      d.cp = (d.cp << 6) | (b & 0x3f);
      if (++d.seen === d.needed) {
        pushCodePoint(t, d.cp);
        d.cp = d.needed = d.seen = 0;
      }
    }
    if (flush && d.needed !== 0) {
      d.cp = d.needed = d.seen = 0;
      d.lower = 0x80;
      d.upper = 0xbf;
      if (fatal) throw new TypeErrorCtor('The encoded data was not valid for encoding utf-8');
      pushUnit(t, 0xfffd);
    }
  }
  function utf8Decode(bytes, start, end) {
    const t = newText();
    utf8DecodeInto(t, newUtf8State(), bytes, start, end, false, true);
    return flushText(t);
  }

  // The bytes a BufferSource views: [Uint8Array over the same memory], or
  // undefined when `v` is none.
  function bytesOf(v) {
    if (isArrayBuffer(v)) return new Uint8ArrayCtor(v, 0, ArrayBufferByteLength(v));
    if (typedArrayName(v) !== undefined) {
      return new Uint8ArrayCtor(TypedArrayBuffer(v), TypedArrayByteOffset(v), TypedArrayByteLength(v));
    }
    if (isDataView(v)) return new Uint8ArrayCtor(DataViewBuffer(v), DataViewByteOffset(v), DataViewByteLength(v));
    return undefined;
  }
  function copyBytes(u8) {
    const out = new Uint8ArrayCtor(TypedArrayLength(u8));
    TypedArraySet(out, u8);
    return out;
  }

  // --- TextEncoder / TextDecoder -----------------------------------------------
  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(input = '') { return utf8Encode(`${input}`); }
    encodeInto(source, destination) {
      if (typedArrayName(destination) !== 'Uint8Array') {
        throw new TypeErrorCtor("TextEncoder.encodeInto: the destination must be a Uint8Array");
      }
      const done = utf8Write(`${source}`, destination, TypedArrayLength(destination));
      return {read: done[0], written: done[1]};
    }
  }
  define(TextEncoder.prototype, SymbolToStringTag, 'TextEncoder');

  // windows-1252 bytes 0x80-0x9f (other bytes are their code point).
  const windows1252 = [
    0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d,
    0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d,
    0x17e, 0x178,
  ];
  // Labels by encoding: names separated by spaces (a section runs after the
  // task started: no array iteration, which the task may have replaced).
  const encodingLabels = new MapCtor();  // label -> encoding
  const labelsOf = {
    __proto__: null,
    'utf-8': 'unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8',
    'utf-16le': 'csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le',
    'windows-1252': 'ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 ' +
                    'iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252',
  };
  const encodings = ObjectKeys(labelsOf);
  for (let e = 0; e < encodings.length; e++) {
    const labels = labelsOf[encodings[e]];
    let start = 0;
    while (start < labels.length) {
      let end = StringIndexOf(labels, ' ', start);
      if (end < 0) end = labels.length;
      MapSet(encodingLabels, StringSlice(labels, start, end), encodings[e]);
      start = end + 1;
    }
  }
  const isAsciiWhitespace = (c) => c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d || c === 0x20;
  function trimAsciiWhitespace(s) {
    let start = 0;
    let end = s.length;
    while (start < end && isAsciiWhitespace(StringCharCodeAt(s, start))) start++;
    while (end > start && isAsciiWhitespace(StringCharCodeAt(s, end - 1))) end--;
    return StringSlice(s, start, end);
  }

  class TextDecoder {
    #encoding;
    #fatal;
    #ignoreBOM;
    #doNotFlush = false;
    #bomSeen = false;
    #utf8 = newUtf8State();
    #leadByte = -1;       // utf-16le
    #leadSurrogate = -1;  // utf-16le
    constructor(label = 'utf-8', options = undefined) {
      const encoding = MapGet(encodingLabels, StringToLowerCase(trimAsciiWhitespace(`${label}`)));
      if (encoding === undefined) throw new RangeErrorCtor(`The encoding label provided ('${label}') is invalid.`);
      this.#encoding = encoding;
      this.#fatal = options !== undefined && options !== null && !!options.fatal;
      this.#ignoreBOM = options !== undefined && options !== null && !!options.ignoreBOM;
    }
    get encoding() { return this.#encoding; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input = undefined, options = undefined) {
      let bytes;
      if (input === undefined) {
        bytes = new Uint8ArrayCtor(0);
      } else {
        bytes = bytesOf(input);
        if (bytes === undefined) {
          throw new TypeErrorCtor("TextDecoder.decode: the input must be an ArrayBuffer or an ArrayBufferView");
        }
      }
      if (!this.#doNotFlush) {
        this.#utf8 = newUtf8State();
        this.#leadByte = this.#leadSurrogate = -1;
        this.#bomSeen = false;
      }
      const stream = options !== undefined && options !== null && !!options.stream;
      this.#doNotFlush = stream;
      const t = newText();
      const n = TypedArrayLength(bytes);
      const fatal = this.#fatal;
      try {
        if (this.#encoding === 'utf-8') {
          utf8DecodeInto(t, this.#utf8, bytes, 0, n, fatal, !stream);
        } else if (this.#encoding === 'utf-16le') {
          this.#utf16(t, bytes, n, fatal, !stream);
        } else {
          for (let i = 0; i < n; i++) {
            const b = bytes[i];
            pushUnit(t, b >= 0x80 && b <= 0x9f ? windows1252[b - 0x80] : b);
          }
        }
      } catch (e) {
        // A fatal error resets the decoder (as a new one).
        this.#doNotFlush = false;
        throw e;
      }
      let text = flushText(t);
      // The BOM is dropped once, at the start of the stream.
      if (this.#encoding !== 'windows-1252' && !this.#bomSeen && text.length > 0) {
        this.#bomSeen = true;
        if (!this.#ignoreBOM && StringCharCodeAt(text, 0) === 0xfeff) text = StringSlice(text, 1);
      }
      return text;
    }
    #utf16(t, bytes, n, fatal, flush) {
      const bad = () => {
        if (fatal) throw new TypeErrorCtor('The encoded data was not valid for encoding utf-16le');
        pushUnit(t, 0xfffd);
      };
      for (let i = 0; i < n; i++) {
        if (this.#leadByte < 0) {
          this.#leadByte = bytes[i];
          continue;
        }
        const unit = this.#leadByte | (bytes[i] << 8);
        this.#leadByte = -1;
        if (this.#leadSurrogate >= 0) {
          const lead = this.#leadSurrogate;
          this.#leadSurrogate = -1;
          if (unit >= 0xdc00 && unit <= 0xdfff) {
            pushUnit(t, lead);
            pushUnit(t, unit);
            continue;
          }
          bad();
        }
        if (unit >= 0xd800 && unit <= 0xdbff) {
          this.#leadSurrogate = unit;
        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
          bad();
        } else {
          pushUnit(t, unit);
        }
      }
      if (flush && (this.#leadByte >= 0 || this.#leadSurrogate >= 0)) {
        this.#leadByte = this.#leadSurrogate = -1;
        bad();
      }
    }
  }
  define(TextDecoder.prototype, SymbolToStringTag, 'TextDecoder');

  return {__proto__: null, TextEncoder, TextDecoder, toUSV, utf8Encode, utf8Decode, bytesOf, copyBytes};
})
