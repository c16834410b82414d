// Tasker runtime prelude, section "url": URL and URLSearchParams (the WHATWG URL Standard).
// Compiled into a task's context the first time the task touches one of
// its globals (prelude.js, "Sections compiled on first use"); it uses only
// the intrinsics the prelude captured before the task started.
(function (shared, section) {
  'use strict';

  const {ReflectApply, ObjectKeys, ArrayIsArray, TypeErrorCtor, define, append, ObjectSetPrototypeOf, SymbolIterator,
         SymbolToStringTag, NumberToString, MathFloor, StringFromCharCode, StringFromCodePoint, StringCharCodeAt,
         StringSlice, StringIndexOf, StringToLowerCase, StringNormalize, Uint8ArrayCtor, TypedArrayLength,
         IteratorPrototype, isObject} = shared;
  const {toUSV, utf8Encode, utf8Decode} = section('encoding');

  // --- URL (the WHATWG URL Standard's basic URL parser) ---------------------------
  // A URL record: {scheme, username, password, host (null or serialized),
  // port (null or a number), path (a list of segments, or a string when
  // opaque), query, fragment (null or a string)}.
  const EOF_CP = -1;
  // (Comparisons, not a lookup table: see StringFromCodePoint in prelude.js.)
  const isSpecial = (s) => s === 'http' || s === 'https' || s === 'ws' || s === 'wss' || s === 'ftp' || s === 'file';
  const defaultPort = (s) =>
      (s === 'http' || s === 'ws' ? 80 : s === 'https' || s === 'wss' ? 443 : s === 'ftp' ? 21 : null);
  const isAsciiAlpha = (c) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  const isAsciiDigit = (c) => c >= 0x30 && c <= 0x39;
  const isAsciiHex = (c) => isAsciiDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
  const hexValue = (c) => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);
  const lowerAscii = (c) => StringFromCharCode(c >= 0x41 && c <= 0x5a ? c + 32 : c);
  // Percent-encode sets.
  const inC0Set = (c) => c < 0x20 || c > 0x7e;
  const inFragmentSet = (c) => inC0Set(c) || c === 0x20 || c === 0x22 || c === 0x3c || c === 0x3e || c === 0x60;
  const inQuerySet = (c) => inC0Set(c) || c === 0x20 || c === 0x22 || c === 0x23 || c === 0x3c || c === 0x3e;
  const inSpecialQuerySet = (c) => inQuerySet(c) || c === 0x27;
  const inPathSet = (c) => inQuerySet(c) || c === 0x3f || c === 0x60 || c === 0x7b || c === 0x7d;
  const inUserinfoSet = (c) =>
      inPathSet(c) || c === 0x2f || c === 0x3a || c === 0x3b || c === 0x3d || c === 0x40 || (c >= 0x5b && c <= 0x5e) ||
      c === 0x7c;
  const inComponentSet = (c) => inUserinfoSet(c) || (c >= 0x24 && c <= 0x26) || c === 0x2b || c === 0x2c;
  const inFormSet = (c) => inComponentSet(c) || c === 0x21 || (c >= 0x27 && c <= 0x29) || c === 0x7e;
  const HEX_UPPER = '0123456789ABCDEF';
  const percentByte = (b) => '%' + HEX_UPPER[b >> 4] + HEX_UPPER[b & 15];
  function encodeCodePoint(c, inSet) {
    if (!inSet(c)) return StringFromCharCode(c);  // ASCII: every set holds all non-ASCII
    if (c < 0x80) return percentByte(c);
    if (c < 0x800) return percentByte(0xc0 | (c >> 6)) + percentByte(0x80 | (c & 0x3f));
    if (c < 0x10000) {
      return percentByte(0xe0 | (c >> 12)) + percentByte(0x80 | ((c >> 6) & 0x3f)) + percentByte(0x80 | (c & 0x3f));
    }
    return percentByte(0xf0 | (c >> 18)) + percentByte(0x80 | ((c >> 12) & 0x3f)) +
           percentByte(0x80 | ((c >> 6) & 0x3f)) + percentByte(0x80 | (c & 0x3f));
  }
  // The code points of a string (lone surrogates as U+FFFD).
  function codePointsOf(s, skipTabNewline) {
    const out = [];
    const n = s.length;
    for (let i = 0; i < n; i++) {
      let c = StringCharCodeAt(s, i);
      if (skipTabNewline && (c === 0x09 || c === 0x0a || c === 0x0d)) continue;
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
        const d = StringCharCodeAt(s, i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      append(out, c);
    }
    return out;
  }
  function encodeString(s, inSet) {
    const cps = codePointsOf(s, false);
    let out = '';
    for (let i = 0; i < cps.length; i++) out += encodeCodePoint(cps[i], inSet);
    return out;
  }
  // Percent-decoding: the bytes of s (UTF-8) with %XX sequences decoded.
  function percentDecode(s, plusIsSpace) {
    const bytes = utf8Encode(s);
    const n = TypedArrayLength(bytes);
    const out = new Uint8ArrayCtor(n);
    let j = 0;
    for (let i = 0; i < n; i++) {
      const b = bytes[i];
      if (b === 0x25 && i + 2 < n && isAsciiHex(bytes[i + 1]) && isAsciiHex(bytes[i + 2])) {
        out[j++] = (hexValue(bytes[i + 1]) << 4) | hexValue(bytes[i + 2]);
        i += 2;
      } else {
        out[j++] = plusIsSpace && b === 0x2b ? 0x20 : b;
      }
    }
    return utf8Decode(out, 0, j);
  }

  const S_SCHEME_START = 1, S_SCHEME = 2, S_NO_SCHEME = 3, S_SPECIAL_RELATIVE_OR_AUTHORITY = 4,
        S_PATH_OR_AUTHORITY = 5, S_RELATIVE = 6, S_RELATIVE_SLASH = 7, S_SPECIAL_AUTHORITY_SLASHES = 8,
        S_SPECIAL_AUTHORITY_IGNORE_SLASHES = 9, S_AUTHORITY = 10, S_HOST = 11, S_HOSTNAME = 12, S_PORT = 13,
        S_FILE = 14, S_FILE_SLASH = 15, S_FILE_HOST = 16, S_PATH_START = 17, S_PATH = 18, S_OPAQUE_PATH = 19,
        S_QUERY = 20, S_FRAGMENT = 21;

  const newUrlRecord = () => ({
    __proto__: null, scheme: '', username: '', password: '', host: null, port: null, path: [], query: null,
    fragment: null,
  });
  const includesCredentials = (url) => url.username !== '' || url.password !== '';
  const cannotHaveCredentialsOrPort = (url) => url.host === null || url.host === '' || url.scheme === 'file';
  const isWindowsDriveLetter = (s) =>
      s.length === 2 && isAsciiAlpha(StringCharCodeAt(s, 0)) &&
      (StringCharCodeAt(s, 1) === 0x3a || StringCharCodeAt(s, 1) === 0x7c);
  const isNormalizedWindowsDriveLetter = (s) => isWindowsDriveLetter(s) && StringCharCodeAt(s, 1) === 0x3a;
  function startsWithWindowsDriveLetter(cps, p) {
    if (cps.length - p < 2 || !isAsciiAlpha(cps[p]) || (cps[p + 1] !== 0x3a && cps[p + 1] !== 0x7c)) return false;
    if (cps.length - p === 2) return true;
    const c = cps[p + 2];
    return c === 0x2f || c === 0x5c || c === 0x3f || c === 0x23;
  }
  function shortenPath(url) {
    const path = url.path;
    if (url.scheme === 'file' && path.length === 1 && isNormalizedWindowsDriveLetter(path[0])) return;
    if (path.length > 0) path.length = path.length - 1;
  }
  function clonePath(path) {
    if (typeof path === 'string') return path;
    const out = [];
    for (let i = 0; i < path.length; i++) append(out, path[i]);
    return out;
  }
  const isSingleDot = (s) => s === '.' || StringToLowerCase(s) === '%2e';
  const isDoubleDot = (s) => {
    if (s.length < 2 || s.length > 6) return false;
    const l = StringToLowerCase(s);
    return l === '..' || l === '.%2e' || l === '%2e.' || l === '%2e%2e';
  };
  function trimControlAndSpace(s) {
    let start = 0;
    let end = s.length;
    while (start < end && StringCharCodeAt(s, start) <= 0x20) start++;
    while (end > start && StringCharCodeAt(s, end - 1) <= 0x20) end--;
    return StringSlice(s, start, end);
  }

  // The basic URL parser: a new record, or with `url` and `override` the
  // state-override form the setters use. null for failure.
  function parseURL(input, base, url = undefined, override = 0) {
    if (url === undefined) {
      url = newUrlRecord();
      input = trimControlAndSpace(input);
    }
    const cps = codePointsOf(input, true);
    const n = cps.length;
    let state = override || S_SCHEME_START;
    let buffer = '';
    let bufferLength = 0;
    let atSignSeen = false;
    let insideBrackets = false;
    let passwordTokenSeen = false;
    let pointer = 0;
    for (;;) {
      const c = pointer < n ? cps[pointer] : EOF_CP;
      switch (state) {
        case S_SCHEME_START:
          if (isAsciiAlpha(c)) {
            buffer += lowerAscii(c);
            state = S_SCHEME;
          } else if (!override) {
            state = S_NO_SCHEME;
            pointer--;
          } else {
            return null;
          }
          break;
        case S_SCHEME:
          if (isAsciiAlpha(c) || isAsciiDigit(c) || c === 0x2b || c === 0x2d || c === 0x2e) {
            buffer += lowerAscii(c);
          } else if (c === 0x3a) {
            if (override) {
              if (isSpecial(url.scheme) !== isSpecial(buffer)) return url;
              if ((includesCredentials(url) || url.port !== null) && buffer === 'file') return url;
              if (url.scheme === 'file' && url.host === '') return url;
            }
            url.scheme = buffer;
            if (override) {
              if (isSpecial(url.scheme) && url.port === defaultPort(url.scheme)) url.port = null;
              return url;
            }
            buffer = '';
            if (url.scheme === 'file') {
              state = S_FILE;
            } else if (isSpecial(url.scheme) && base !== null && base.scheme === url.scheme) {
              state = S_SPECIAL_RELATIVE_OR_AUTHORITY;
            } else if (isSpecial(url.scheme)) {
              state = S_SPECIAL_AUTHORITY_SLASHES;
            } else if (pointer + 1 < n && cps[pointer + 1] === 0x2f) {
              state = S_PATH_OR_AUTHORITY;
              pointer++;
            } else {
              url.path = '';
              state = S_OPAQUE_PATH;
            }
          } else if (!override) {
            buffer = '';
            state = S_NO_SCHEME;
            pointer = -1;
          } else {
            return null;
          }
          break;
        case S_NO_SCHEME:
          if (base === null || (typeof base.path === 'string' && c !== 0x23)) return null;
          if (typeof base.path === 'string') {
            url.scheme = base.scheme;
            url.path = base.path;
            url.query = base.query;
            url.fragment = '';
            state = S_FRAGMENT;
          } else {
            state = base.scheme !== 'file' ? S_RELATIVE : S_FILE;
            pointer--;
          }
          break;
        case S_SPECIAL_RELATIVE_OR_AUTHORITY:
          if (c === 0x2f && pointer + 1 < n && cps[pointer + 1] === 0x2f) {
            state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
            pointer++;
          } else {
            state = S_RELATIVE;
            pointer--;
          }
          break;
        case S_PATH_OR_AUTHORITY:
          if (c === 0x2f) {
            state = S_AUTHORITY;
          } else {
            state = S_PATH;
            pointer--;
          }
          break;
        case S_RELATIVE:
          url.scheme = base.scheme;
          if (c === 0x2f || (isSpecial(url.scheme) && c === 0x5c)) {
            state = S_RELATIVE_SLASH;
          } else {
            url.username = base.username;
            url.password = base.password;
            url.host = base.host;
            url.port = base.port;
            url.path = clonePath(base.path);
            url.query = base.query;
            if (c === 0x3f) {
              url.query = '';
              state = S_QUERY;
            } else if (c === 0x23) {
              url.fragment = '';
              state = S_FRAGMENT;
            } else if (c !== EOF_CP) {
              url.query = null;
              shortenPath(url);
              state = S_PATH;
              pointer--;
            }
          }
          break;
        case S_RELATIVE_SLASH:
          if (isSpecial(url.scheme) && (c === 0x2f || c === 0x5c)) {
            state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
          } else if (c === 0x2f) {
            state = S_AUTHORITY;
          } else {
            url.username = base.username;
            url.password = base.password;
            url.host = base.host;
            url.port = base.port;
            state = S_PATH;
            pointer--;
          }
          break;
        case S_SPECIAL_AUTHORITY_SLASHES:
          state = S_SPECIAL_AUTHORITY_IGNORE_SLASHES;
          if (c === 0x2f && pointer + 1 < n && cps[pointer + 1] === 0x2f) {
            pointer++;
          } else {
            pointer--;
          }
          break;
        case S_SPECIAL_AUTHORITY_IGNORE_SLASHES:
          if (c !== 0x2f && c !== 0x5c) {
            state = S_AUTHORITY;
            pointer--;
          }
          break;
        case S_AUTHORITY:
          if (c === 0x40) {
            if (atSignSeen) buffer = '%40' + buffer;
            atSignSeen = true;
            const parts = codePointsOf(buffer, false);
            for (let i = 0; i < parts.length; i++) {
              if (parts[i] === 0x3a && !passwordTokenSeen) {
                passwordTokenSeen = true;
                continue;
              }
              const encoded = encodeCodePoint(parts[i], inUserinfoSet);
              if (passwordTokenSeen) url.password += encoded; else url.username += encoded;
            }
            buffer = '';
            bufferLength = 0;
          } else if (c === EOF_CP || c === 0x2f || c === 0x3f || c === 0x23 || (isSpecial(url.scheme) && c === 0x5c)) {
            if (atSignSeen && buffer === '') return null;
            pointer -= bufferLength + 1;
            buffer = '';
            bufferLength = 0;
            state = S_HOST;
          } else {
            buffer += StringFromCodePoint(c);
            bufferLength++;
          }
          break;
        case S_HOST:
        case S_HOSTNAME:
          if (override && url.scheme === 'file') {
            pointer--;
            state = S_FILE_HOST;
          } else if (c === 0x3a && !insideBrackets) {
            if (buffer === '' || override === S_HOSTNAME) return null;
            const host = parseHost(buffer, !isSpecial(url.scheme));
            if (host === null) return null;
            url.host = host;
            buffer = '';
            state = S_PORT;
          } else if (c === EOF_CP || c === 0x2f || c === 0x3f || c === 0x23 || (isSpecial(url.scheme) && c === 0x5c)) {
            pointer--;
            if (isSpecial(url.scheme) && buffer === '') return null;
            if (override && buffer === '' && (includesCredentials(url) || url.port !== null)) return null;
            const host = parseHost(buffer, !isSpecial(url.scheme));
            if (host === null) return null;
            url.host = host;
            buffer = '';
            state = S_PATH_START;
            if (override) return url;
          } else {
            if (c === 0x5b) insideBrackets = true;
            if (c === 0x5d) insideBrackets = false;
            buffer += StringFromCodePoint(c);
          }
          break;
        case S_PORT:
          if (isAsciiDigit(c)) {
            buffer += StringFromCharCode(c);
          } else if (c === EOF_CP || c === 0x2f || c === 0x3f || c === 0x23 || (isSpecial(url.scheme) && c === 0x5c) ||
                     override) {
            if (buffer !== '') {
              let port = 0;
              for (let i = 0; i < buffer.length; i++) {
                port = port * 10 + (StringCharCodeAt(buffer, i) - 0x30);
                if (port > 65535) return null;
              }
              url.port = defaultPort(url.scheme) === port ? null : port;
              buffer = '';
            }
            if (override) return url;
            state = S_PATH_START;
            pointer--;
          } else {
            return null;
          }
          break;
        case S_FILE:
          url.scheme = 'file';
          url.host = '';
          if (c === 0x2f || c === 0x5c) {
            state = S_FILE_SLASH;
          } else if (base !== null && base.scheme === 'file') {
            url.host = base.host;
            url.path = clonePath(base.path);
            url.query = base.query;
            if (c === 0x3f) {
              url.query = '';
              state = S_QUERY;
            } else if (c === 0x23) {
              url.fragment = '';
              state = S_FRAGMENT;
            } else if (c !== EOF_CP) {
              url.query = null;
              if (!startsWithWindowsDriveLetter(cps, pointer)) shortenPath(url); else url.path = [];
              state = S_PATH;
              pointer--;
            }
          } else {
            state = S_PATH;
            pointer--;
          }
          break;
        case S_FILE_SLASH:
          if (c === 0x2f || c === 0x5c) {
            state = S_FILE_HOST;
          } else {
            if (base !== null && base.scheme === 'file') {
              url.host = base.host;
              if (!startsWithWindowsDriveLetter(cps, pointer) && typeof base.path !== 'string' &&
                  base.path.length > 0 && isNormalizedWindowsDriveLetter(base.path[0])) {
                append(url.path, base.path[0]);
              }
            }
            state = S_PATH;
            pointer--;
          }
          break;
        case S_FILE_HOST:
          if (c === EOF_CP || c === 0x2f || c === 0x5c || c === 0x3f || c === 0x23) {
            pointer--;
            if (!override && isWindowsDriveLetter(buffer)) {
              state = S_PATH;  // the buffer goes on into the path
            } else if (buffer === '') {
              url.host = '';
              if (override) return url;
              state = S_PATH_START;
            } else {
              let host = parseHost(buffer, !isSpecial(url.scheme));
              if (host === null) return null;
              if (host === 'localhost') host = '';
              url.host = host;
              if (override) return url;
              buffer = '';
              state = S_PATH_START;
            }
          } else {
            buffer += StringFromCodePoint(c);
          }
          break;
        case S_PATH_START:
          if (isSpecial(url.scheme)) {
            state = S_PATH;
            if (c !== 0x2f && c !== 0x5c) pointer--;
          } else if (!override && c === 0x3f) {
            url.query = '';
            state = S_QUERY;
          } else if (!override && c === 0x23) {
            url.fragment = '';
            state = S_FRAGMENT;
          } else if (c !== EOF_CP) {
            state = S_PATH;
            if (c !== 0x2f) pointer--;
          } else if (override && url.host === null) {
            append(url.path, '');
          }
          break;
        case S_PATH: {
          const slash = c === 0x2f || (isSpecial(url.scheme) && c === 0x5c);
          if (c === EOF_CP || slash || (!override && (c === 0x3f || c === 0x23))) {
            if (isDoubleDot(buffer)) {
              shortenPath(url);
              if (!slash) append(url.path, '');
            } else if (isSingleDot(buffer)) {
              if (!slash) append(url.path, '');
            } else {
              if (url.scheme === 'file' && url.path.length === 0 && isWindowsDriveLetter(buffer)) {
                buffer = StringSlice(buffer, 0, 1) + ':';
              }
              append(url.path, buffer);
            }
            buffer = '';
            if (c === 0x3f) {
              url.query = '';
              state = S_QUERY;
            } else if (c === 0x23) {
              url.fragment = '';
              state = S_FRAGMENT;
            }
          } else {
            buffer += encodeCodePoint(c, inPathSet);
          }
          break;
        }
        case S_OPAQUE_PATH:
          if (c === 0x3f) {
            url.query = '';
            state = S_QUERY;
          } else if (c === 0x23) {
            url.fragment = '';
            state = S_FRAGMENT;
          } else if (c !== EOF_CP) {
            url.path += encodeCodePoint(c, inC0Set);
          }
          break;
        case S_QUERY:
          if (!override && c === 0x23) {
            url.fragment = '';
            state = S_FRAGMENT;
          } else if (c !== EOF_CP) {
            url.query += encodeCodePoint(c, isSpecial(url.scheme) ? inSpecialQuerySet : inQuerySet);
          }
          break;
        case S_FRAGMENT:
          if (c !== EOF_CP) url.fragment += encodeCodePoint(c, inFragmentSet);
          break;
      }
      if (pointer >= n) break;
      pointer++;
    }
    return url;
  }

  // Hosts: a domain (lower-cased, IDNA to ASCII), an IPv4 or [IPv6] address,
  // or for non-special schemes an opaque (percent-encoded) host.
  const isForbiddenHost = (c) =>
      c === 0 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x20 || c === 0x23 || c === 0x2f || c === 0x3a ||
      c === 0x3c || c === 0x3e || c === 0x3f || c === 0x40 || c === 0x5b || c === 0x5c || c === 0x5d || c === 0x5e ||
      c === 0x7c;
  const isForbiddenDomain = (c) => isForbiddenHost(c) || c <= 0x1f || c === 0x25 || c === 0x7f;
  function parseHost(input, opaque) {
    if (StringCharCodeAt(input, 0) === 0x5b) {
      if (StringCharCodeAt(input, input.length - 1) !== 0x5d) return null;
      const address = parseIPv6(StringSlice(input, 1, input.length - 1));
      return address === null ? null : `[${serializeIPv6(address)}]`;
    }
    if (opaque) {
      const cps = codePointsOf(input, false);
      let out = '';
      for (let i = 0; i < cps.length; i++) {
        if (isForbiddenHost(cps[i])) return null;
        out += encodeCodePoint(cps[i], inC0Set);
      }
      return out;
    }
    const ascii = domainToASCII(percentDecode(input, false));
    if (ascii === null) return null;
    for (let i = 0; i < ascii.length; i++) if (isForbiddenDomain(StringCharCodeAt(ascii, i))) return null;
    if (endsInANumber(ascii)) {
      const address = parseIPv4(ascii);
      return address === null ? null : serializeIPv4(address);
    }
    return ascii;
  }
  function splitDots(s) {
    const parts = [];
    let start = 0;
    for (;;) {
      const dot = StringIndexOf(s, '.', start);
      if (dot < 0) break;
      append(parts, StringSlice(s, start, dot));
      start = dot + 1;
    }
    append(parts, StringSlice(s, start));
    return parts;
  }
  // UTS 46 ToASCII, approximated: NFKC and lower case for the mapping, then
  // Punycode for every label that is not ASCII.
  const ignoredInDomains = {
    __proto__: null, 0xad: 1, 0x34f: 1, 0x180b: 1, 0x180c: 1, 0x180d: 1, 0x200b: 1, 0x2060: 1, 0xfeff: 1,
  };
  function domainToASCII(domain) {
    let ascii = true;
    for (let i = 0; i < domain.length; i++) {
      if (StringCharCodeAt(domain, i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      const lower = StringToLowerCase(domain);
      return lower === '' ? null : lower;
    }
    const cps = codePointsOf(StringToLowerCase(StringNormalize(domain, 'NFKC')), false);
    let mapped = '';
    for (let i = 0; i < cps.length; i++) {
      const c = cps[i];
      if (c in ignoredInDomains || (c >= 0xfe00 && c <= 0xfe0f)) continue;
      mapped += c === 0x3002 || c === 0xff0e || c === 0xff61 ? '.' : StringFromCodePoint(c);
    }
    const labels = splitDots(mapped);
    let out = '';
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i];
      let plain = true;
      for (let k = 0; k < label.length; k++) if (StringCharCodeAt(label, k) >= 0x80) plain = false;
      out += (i === 0 ? '' : '.') + (plain ? label : 'xn--' + punycode(label));
    }
    return out === '' ? null : out;
  }
  // RFC 3492 Punycode encoding of one label.
  function punycode(label) {
    const cps = codePointsOf(label, false);
    const digit = (d) => StringFromCharCode(d < 26 ? 0x61 + d : 0x16 + d);
    const adapt = (delta, points, first) => {
      delta = first ? MathFloor(delta / 700) : delta >> 1;
      delta += MathFloor(delta / points);
      let k = 0;
      while (delta > 455) {
        delta = MathFloor(delta / 35);
        k += 36;
      }
      return k + MathFloor((36 * delta) / (delta + 38));
    };
    let out = '';
    for (let i = 0; i < cps.length; i++) if (cps[i] < 0x80) out += StringFromCharCode(cps[i]);
    const basic = out.length;
    let handled = basic;
    if (basic > 0) out += '-';
    let n = 128;
    let delta = 0;
    let bias = 72;
    while (handled < cps.length) {
      let m = 0x7fffffff;
      for (let i = 0; i < cps.length; i++) if (cps[i] >= n && cps[i] < m) m = cps[i];
      delta += (m - n) * (handled + 1);
      n = m;
      for (let i = 0; i < cps.length; i++) {
        if (cps[i] < n) delta++;
        if (cps[i] === n) {
          let q = delta;
          for (let k = 36; ; k += 36) {
            const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
            if (q < t) break;
            out += digit(t + ((q - t) % (36 - t)));
            q = MathFloor((q - t) / (36 - t));
          }
          out += digit(q);
          bias = adapt(delta, handled + 1, handled === basic);
          delta = 0;
          handled++;
        }
      }
      delta++;
      n++;
    }
    return out;
  }
  function parseIPv4Number(s) {
    if (s === '') return null;
    let radix = 10;
    if (s.length >= 2 && StringCharCodeAt(s, 0) === 0x30 && (StringCharCodeAt(s, 1) | 0x20) === 0x78) {
      s = StringSlice(s, 2);
      radix = 16;
    } else if (s.length >= 2 && StringCharCodeAt(s, 0) === 0x30) {
      s = StringSlice(s, 1);
      radix = 8;
    }
    let value = 0;
    for (let i = 0; i < s.length; i++) {
      const c = StringCharCodeAt(s, i);
      let d;
      if (radix === 16) {
        if (!isAsciiHex(c)) return null;
        d = hexValue(c);
      } else {
        if (!isAsciiDigit(c)) return null;
        d = c - 0x30;
        if (d >= radix) return null;
      }
      value = value * radix + d;
    }
    return value;
  }
  function endsInANumber(s) {
    const parts = splitDots(s);
    let last = parts.length - 1;
    if (parts[last] === '') {
      if (parts.length === 1) return false;
      last--;
    }
    const part = parts[last];
    let digits = part !== '';
    for (let i = 0; i < part.length; i++) if (!isAsciiDigit(StringCharCodeAt(part, i))) digits = false;
    return digits || parseIPv4Number(part) !== null;
  }
  function parseIPv4(s) {
    const parts = splitDots(s);
    if (parts[parts.length - 1] === '' && parts.length > 1) parts.length = parts.length - 1;
    if (parts.length > 4) return null;
    const numbers = [];
    for (let i = 0; i < parts.length; i++) {
      const v = parseIPv4Number(parts[i]);
      if (v === null) return null;
      append(numbers, v);
    }
    for (let i = 0; i < numbers.length - 1; i++) if (numbers[i] > 255) return null;
    const last = numbers[numbers.length - 1];
    if (last >= 256 ** (5 - numbers.length)) return null;
    let address = last;
    for (let i = 0; i < numbers.length - 1; i++) address += numbers[i] * 256 ** (3 - i);
    return address;
  }
  function serializeIPv4(address) {
    let out = '';
    for (let i = 3; i >= 0; i--) out += `${MathFloor(address / 256 ** i) % 256}` + (i > 0 ? '.' : '');
    return out;
  }
  function parseIPv6(s) {
    const address = [0, 0, 0, 0, 0, 0, 0, 0];
    const n = s.length;
    const at = (p) => (p < n ? StringCharCodeAt(s, p) : EOF_CP);
    let piece = 0;
    let compress = null;
    let p = 0;
    if (at(p) === 0x3a) {
      if (at(p + 1) !== 0x3a) return null;
      p += 2;
      compress = ++piece;
    }
    while (at(p) !== EOF_CP) {
      if (piece === 8) return null;
      if (at(p) === 0x3a) {
        if (compress !== null) return null;
        p++;
        compress = ++piece;
        continue;
      }
      let value = 0;
      let length = 0;
      while (length < 4 && isAsciiHex(at(p))) {
        value = value * 16 + hexValue(at(p));
        p++;
        length++;
      }
      if (at(p) === 0x2e) {
        if (length === 0) return null;
        p -= length;
        if (piece > 6) return null;
        let seen = 0;
        while (at(p) !== EOF_CP) {
          let v4 = null;
          if (seen > 0) {
            if (at(p) === 0x2e && seen < 4) p++; else return null;
          }
          if (!isAsciiDigit(at(p))) return null;
          while (isAsciiDigit(at(p))) {
            const d = at(p) - 0x30;
            if (v4 === null) v4 = d; else if (v4 === 0) return null; else v4 = v4 * 10 + d;
            if (v4 > 255) return null;
            p++;
          }
          address[piece] = address[piece] * 256 + v4;
          seen++;
          if (seen === 2 || seen === 4) piece++;
        }
        if (seen !== 4) return null;
        break;
      } else if (at(p) === 0x3a) {
        p++;
        if (at(p) === EOF_CP) return null;
      } else if (at(p) !== EOF_CP) {
        return null;
      }
      address[piece++] = value;
    }
    if (compress !== null) {
      let swaps = piece - compress;
      piece = 7;
      while (piece !== 0 && swaps > 0) {
        const t = address[piece];
        address[piece] = address[compress + swaps - 1];
        address[compress + swaps - 1] = t;
        piece--;
        swaps--;
      }
    } else if (piece !== 8) {
      return null;
    }
    return address;
  }
  function serializeIPv6(address) {
    // The first longest run of two or more zero pieces becomes "::".
    let compress = -1;
    let best = 1;
    for (let i = 0; i < 8;) {
      if (address[i] !== 0) {
        i++;
        continue;
      }
      let k = i;
      while (k < 8 && address[k] === 0) k++;
      if (k - i > best) {
        best = k - i;
        compress = i;
      }
      i = k;
    }
    let out = '';
    for (let i = 0; i < 8; i++) {
      if (i === compress) {
        out += i === 0 ? '::' : ':';
        i += best - 1;
        continue;
      }
      out += NumberToString(address[i], 16) + (i < 7 ? ':' : '');
    }
    return out;
  }

  function serializePath(url) {
    if (typeof url.path === 'string') return url.path;
    let out = '';
    for (let i = 0; i < url.path.length; i++) out += '/' + url.path[i];
    return out;
  }
  function serializeURL(url, excludeFragment = false) {
    let out = url.scheme + ':';
    if (url.host !== null) {
      out += '//';
      if (includesCredentials(url)) out += url.username + (url.password !== '' ? ':' + url.password : '') + '@';
      out += url.host;
      if (url.port !== null) out += ':' + url.port;
    } else if (typeof url.path !== 'string' && url.path.length > 1 && url.path[0] === '') {
      out += '/.';
    }
    out += serializePath(url);
    if (url.query !== null) out += '?' + url.query;
    if (!excludeFragment && url.fragment !== null) out += '#' + url.fragment;
    return out;
  }
  function originOf(url) {
    switch (url.scheme) {
      case 'blob': {
        const inner = typeof url.path === 'string' ? parseURL(url.path, null) : null;
        return inner !== null && (inner.scheme === 'http' || inner.scheme === 'https') ? originOf(inner) : 'null';
      }
      case 'ftp': case 'http': case 'https': case 'ws': case 'wss':
        return url.scheme + '://' + url.host + (url.port !== null ? ':' + url.port : '');
      default:
        return 'null';
    }
  }

  // application/x-www-form-urlencoded: a list of [name, value] pairs.
  function parseForm(s) {
    const list = [];
    const n = s.length;
    let start = 0;
    while (start < n) {
      let end = StringIndexOf(s, '&', start);
      if (end < 0) end = n;
      if (end > start) {
        const part = StringSlice(s, start, end);
        const eq = StringIndexOf(part, '=');
        const name = eq < 0 ? part : StringSlice(part, 0, eq);
        const value = eq < 0 ? '' : StringSlice(part, eq + 1);
        append(list, [percentDecode(name, true), percentDecode(value, true)]);
      }
      start = end + 1;
    }
    return list;
  }
  function encodeForm(s) {
    const cps = codePointsOf(s, false);
    let out = '';
    for (let i = 0; i < cps.length; i++) out += cps[i] === 0x20 ? '+' : encodeCodePoint(cps[i], inFormSet);
    return out;
  }
  function serializeForm(list) {
    let out = '';
    for (let i = 0; i < list.length; i++) {
      out += (i === 0 ? '' : '&') + encodeForm(list[i][0]) + '=' + encodeForm(list[i][1]);
    }
    return out;
  }

  // Iterators over [key, value] pairs (a list, or a function giving the
  // current list: live, as the standard's iterators are).
  class PairIterator {
    #pairs;
    #kind;
    #index = 0;
    constructor(pairs, kind) {
      this.#pairs = pairs;
      this.#kind = kind;
    }
    next() {
      const pairs = typeof this.#pairs === 'function' ? this.#pairs() : this.#pairs;
      if (this.#index >= pairs.length) return {value: undefined, done: true};
      const pair = pairs[this.#index++];
      const kind = this.#kind;
      return {value: kind === 'keys' ? pair[0] : kind === 'values' ? pair[1] : [pair[0], pair[1]], done: false};
    }
    [SymbolIterator]() { return this; }
  }
  ObjectSetPrototypeOf(PairIterator.prototype, IteratorPrototype);
  const toPair = (item) => {
    let pair = item;
    if (!ArrayIsArray(item)) {
      if (!isObject(item) || typeof item[SymbolIterator] !== 'function') {
        throw new TypeErrorCtor('Each pair must be an iterable [name, value] tuple');
      }
      pair = [];
      for (const x of item) append(pair, x);
    }
    if (pair.length !== 2) throw new TypeErrorCtor('Each pair must be an iterable [name, value] tuple');
    return pair;
  };
  // [name, value] pairs of a sequence-or-record init (URLSearchParams, Headers).
  function pairsOf(init, convert) {
    const out = [];
    if (ArrayIsArray(init)) {
      for (let i = 0; i < init.length; i++) {
        const pair = toPair(init[i]);
        append(out, [convert(pair[0]), convert(pair[1])]);
      }
    } else if (typeof init[SymbolIterator] === 'function') {
      for (const item of init) {
        const pair = toPair(item);
        append(out, [convert(pair[0]), convert(pair[1])]);
      }
    } else {
      const keys = ObjectKeys(init);
      for (let i = 0; i < keys.length; i++) append(out, [convert(keys[i]), convert(init[keys[i]])]);
    }
    return out;
  }

  let urlQueryChanged;  // (url, query): set from URLSearchParams below
  let paramsOfUrl;      // (url) -> its URLSearchParams
  let resetParams;      // (params, list)
  let paramsText;       // (value) -> its form text when a URLSearchParams, else undefined
  class URLSearchParams {
    #list = [];
    #owner = null;  // the URL whose query this is
    constructor(init = undefined) {
      if (init === undefined) return;
      if (isObject(init)) {
        if (#list in init) {
          const list = init.#list;
          for (let i = 0; i < list.length; i++) append(this.#list, [list[i][0], list[i][1]]);
        } else {
          this.#list = pairsOf(init, toUSV);
        }
      } else {
        let s = toUSV(init);
        if (StringCharCodeAt(s, 0) === 0x3f) s = StringSlice(s, 1);
        this.#list = parseForm(s);
      }
    }
    static {
      paramsOfUrl = (url) => {
        const params = new URLSearchParams();
        params.#owner = url;
        return params;
      };
      resetParams = (params, list) => { params.#list = list; };
      paramsText = (v) => (isObject(v) && #list in v ? serializeForm(v.#list) : undefined);
    }
    #update() {
      if (this.#owner !== null) {
        const query = serializeForm(this.#list);
        urlQueryChanged(this.#owner, query === '' ? null : query);
      }
    }
    get size() { return this.#list.length; }
    append(name, value) {
      append(this.#list, [toUSV(name), toUSV(value)]);
      this.#update();
    }
    delete(name, value = undefined) {
      name = toUSV(name);
      if (value !== undefined) value = toUSV(value);
      const kept = [];
      const list = this.#list;
      for (let i = 0; i < list.length; i++) {
        if (!(list[i][0] === name && (value === undefined || list[i][1] === value))) append(kept, list[i]);
      }
      this.#list = kept;
      this.#update();
    }
    get(name) {
      name = toUSV(name);
      const list = this.#list;
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) return list[i][1];
      return null;
    }
    getAll(name) {
      name = toUSV(name);
      const out = [];
      const list = this.#list;
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) append(out, list[i][1]);
      return out;
    }
    has(name, value = undefined) {
      name = toUSV(name);
      if (value !== undefined) value = toUSV(value);
      const list = this.#list;
      for (let i = 0; i < list.length; i++) {
        if (list[i][0] === name && (value === undefined || list[i][1] === value)) return true;
      }
      return false;
    }
    set(name, value) {
      name = toUSV(name);
      value = toUSV(value);
      const kept = [];
      const list = this.#list;
      let found = false;
      for (let i = 0; i < list.length; i++) {
        if (list[i][0] !== name) {
          append(kept, list[i]);
        } else if (!found) {
          found = true;
          append(kept, [name, value]);
        }
      }
      if (!found) append(kept, [name, value]);
      this.#list = kept;
      this.#update();
    }
    sort() {
      // Stable, by the names' code units.
      const list = this.#list;
      for (let i = 1; i < list.length; i++) {
        const item = list[i];
        let k = i - 1;
        while (k >= 0 && list[k][0] > item[0]) {
          list[k + 1] = list[k];
          k--;
        }
        list[k + 1] = item;
      }
      this.#update();
    }
    forEach(callback, thisArg = undefined) {
      if (typeof callback !== 'function') {
        throw new TypeErrorCtor('URLSearchParams.forEach: the callback must be a function');
      }
      for (let i = 0; i < this.#list.length; i++) {
        const pair = this.#list[i];
        ReflectApply(callback, thisArg, [pair[1], pair[0], this]);
      }
    }
    keys() { return new PairIterator(() => this.#list, 'keys'); }
    values() { return new PairIterator(() => this.#list, 'values'); }
    entries() { return new PairIterator(() => this.#list, 'entries'); }
    [SymbolIterator]() { return new PairIterator(() => this.#list, 'entries'); }
    toString() { return serializeForm(this.#list); }
  }
  define(URLSearchParams.prototype, SymbolToStringTag, 'URLSearchParams');

  function invalidURL(input, base) {
    const e = new TypeErrorCtor(`Invalid URL: '${input}'` + (base === undefined ? '' : ` with base '${base}'`));
    define(e, 'code', 'ERR_INVALID_URL');
    define(e, 'input', input);
    return e;
  }
  let recordOf;  // (URL) -> its record, or undefined
  class URL {
    #url;
    #params = null;
    constructor(url, base = undefined) {
      const input = recordOf(url) !== undefined ? serializeURL(recordOf(url)) : toUSV(url);
      let baseRecord = null;
      let baseText;
      if (base !== undefined) {
        baseRecord = recordOf(base);
        baseText = baseRecord !== undefined ? serializeURL(baseRecord) : toUSV(base);
        if (baseRecord === undefined) baseRecord = parseURL(baseText, null);
        if (baseRecord === null) throw invalidURL(input, baseText);
      }
      const record = parseURL(input, baseRecord);
      if (record === null) throw invalidURL(input, baseText);
      this.#url = record;
    }
    static {
      recordOf = (url) => (isObject(url) && #url in url ? url.#url : undefined);
      urlQueryChanged = (url, query) => { url.#url.query = query; };
    }
    static canParse(url, base = undefined) {
      let baseRecord = null;
      if (base !== undefined) {
        baseRecord = recordOf(base) || parseURL(toUSV(base), null);
        if (baseRecord === null) return false;
      }
      return parseURL(recordOf(url) !== undefined ? serializeURL(recordOf(url)) : toUSV(url), baseRecord) !== null;
    }
    #queryChanged() {
      if (this.#params !== null) resetParams(this.#params, this.#url.query === null ? [] : parseForm(this.#url.query));
    }
    get href() { return serializeURL(this.#url); }
    set href(value) {
      const text = toUSV(value);
      const record = parseURL(text, null);
      if (record === null) throw invalidURL(text);
      this.#url = record;
      this.#queryChanged();
    }
    get origin() { return originOf(this.#url); }
    get protocol() { return this.#url.scheme + ':'; }
    set protocol(value) { parseURL(toUSV(value) + ':', null, this.#url, S_SCHEME_START); }
    get username() { return this.#url.username; }
    set username(value) {
      if (!cannotHaveCredentialsOrPort(this.#url)) this.#url.username = encodeString(toUSV(value), inUserinfoSet);
    }
    get password() { return this.#url.password; }
    set password(value) {
      if (!cannotHaveCredentialsOrPort(this.#url)) this.#url.password = encodeString(toUSV(value), inUserinfoSet);
    }
    get host() {
      const url = this.#url;
      if (url.host === null) return '';
      return url.port === null ? url.host : url.host + ':' + url.port;
    }
    set host(value) {
      if (typeof this.#url.path !== 'string') parseURL(toUSV(value), null, this.#url, S_HOST);
    }
    get hostname() { return this.#url.host === null ? '' : this.#url.host; }
    set hostname(value) {
      if (typeof this.#url.path !== 'string') parseURL(toUSV(value), null, this.#url, S_HOSTNAME);
    }
    get port() { return this.#url.port === null ? '' : `${this.#url.port}`; }
    set port(value) {
      if (cannotHaveCredentialsOrPort(this.#url)) return;
      const text = toUSV(value);
      if (text === '') this.#url.port = null; else parseURL(text, null, this.#url, S_PORT);
    }
    get pathname() { return serializePath(this.#url); }
    set pathname(value) {
      if (typeof this.#url.path === 'string') return;
      this.#url.path = [];
      parseURL(toUSV(value), null, this.#url, S_PATH_START);
    }
    get search() {
      const query = this.#url.query;
      return query === null || query === '' ? '' : '?' + query;
    }
    set search(value) {
      let text = toUSV(value);
      if (text === '') {
        this.#url.query = null;
      } else {
        if (StringCharCodeAt(text, 0) === 0x3f) text = StringSlice(text, 1);
        this.#url.query = '';
        parseURL(text, null, this.#url, S_QUERY);
      }
      this.#queryChanged();
    }
    get searchParams() {
      if (this.#params === null) {
        this.#params = paramsOfUrl(this);
        this.#queryChanged();
      }
      return this.#params;
    }
    get hash() {
      const fragment = this.#url.fragment;
      return fragment === null || fragment === '' ? '' : '#' + fragment;
    }
    set hash(value) {
      let text = toUSV(value);
      if (text === '') {
        this.#url.fragment = null;
        return;
      }
      if (StringCharCodeAt(text, 0) === 0x23) text = StringSlice(text, 1);
      this.#url.fragment = '';
      parseURL(text, null, this.#url, S_FRAGMENT);
    }
    toString() { return serializeURL(this.#url); }
    toJSON() { return serializeURL(this.#url); }
  }
  define(URL.prototype, SymbolToStringTag, 'URL');

  return {__proto__: null, URL, URLSearchParams, parseURL, serializeURL, recordOf, includesCredentials, paramsText,
          pairsOf, PairIterator, isAsciiAlpha, isAsciiDigit};
})
