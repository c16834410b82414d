// Tasker runtime prelude, section "fetch": fetch, Headers, Request and Response.
// Compiled into a task's context the first time the task touches one of
// its globals (prelude.js, "Sections compiled on first use"); it uses only
// the intrinsics the prelude captured before the task started.
(function (shared, section) {
  'use strict';

  const {ReflectApply, ObjectKeys, ArrayIsArray, JSONStringify, JSONParse, TypeErrorCtor, define, append, isError,
         getterOf, SymbolIterator, SymbolToStringTag, NumberCtor, MathTrunc, StringCharCodeAt, StringSlice,
         StringIndexOf, StringToLowerCase, StringToUpperCase, RangeErrorCtor, Uint8ArrayCtor, TypedArrayBuffer,
         TypedArrayLength, isObject, format, queueCall} = shared;
  const {toUSV, utf8Encode, utf8Decode, bytesOf, copyBytes} = section('encoding');
  const {bytesToBase64, base64Decode} = section('base64');
  const {parseURL, serializeURL, recordOf, includesCredentials, paramsText, pairsOf, PairIterator, isAsciiAlpha,
         isAsciiDigit} = section('url');

  // --- Headers, Request, Response, fetch -----------------------------------------
  const isTokenCode = (c) =>
      isAsciiAlpha(c) || isAsciiDigit(c) || c === 0x21 || (c >= 0x23 && c <= 0x27) || c === 0x2a || c === 0x2b ||
      c === 0x2d || c === 0x2e || c === 0x5e || c === 0x5f || c === 0x60 || c === 0x7c || c === 0x7e;
  function headerName(name) {
    const s = `${name}`;
    if (s === '') throw new TypeErrorCtor('Header name must not be empty');
    for (let i = 0; i < s.length; i++) {
      if (!isTokenCode(StringCharCodeAt(s, i))) throw new TypeErrorCtor(`Invalid header name: '${s}'`);
    }
    return StringToLowerCase(s);
  }
  function headerValue(value) {
    const s = `${value}`;
    const isWhite = (c) => c === 0x09 || c === 0x0a || c === 0x0d || c === 0x20;
    let start = 0;
    let end = s.length;
    while (start < end && isWhite(StringCharCodeAt(s, start))) start++;
    while (end > start && isWhite(StringCharCodeAt(s, end - 1))) end--;
    const v = StringSlice(s, start, end);
    for (let i = 0; i < v.length; i++) {
      const c = StringCharCodeAt(v, i);
      if (c === 0 || c === 0x0a || c === 0x0d || c > 0xff) throw new TypeErrorCtor(`Invalid header value: '${v}'`);
    }
    return v;
  }

  // Headers' own operations, for the runtime (the task may replace the
  // methods of Headers.prototype).
  let headersList;   // (Headers) -> its list of [lower-case name, value]
  let setGuard;      // (Headers, guard)
  let setDefault;    // (Headers, name, value): sets it when the name is absent
  class Headers {
    #list = [];
    #guard = 'none';  // or 'immutable' (a fetched response's)
    constructor(init = undefined) {
      if (init === undefined || init === null) return;
      if (!isObject(init)) throw new TypeErrorCtor('Headers: the init must be an object, an array of pairs or Headers');
      const pairs = #list in init ? init.#list : pairsOf(init, (v) => v);
      for (let i = 0; i < pairs.length; i++) append(this.#list, [headerName(pairs[i][0]), headerValue(pairs[i][1])]);
    }
    static {
      headersList = (h) => h.#list;
      setGuard = (h, guard) => { h.#guard = guard; };
      setDefault = (h, name, value) => {
        for (let i = 0; i < h.#list.length; i++) if (h.#list[i][0] === name) return;
        append(h.#list, [name, value]);
      };
    }
    #check() {
      if (this.#guard === 'immutable') throw new TypeErrorCtor('Headers are immutable');
    }
    append(name, value) {
      const n = headerName(name);
      const v = headerValue(value);
      this.#check();
      append(this.#list, [n, v]);
    }
    delete(name) {
      const n = headerName(name);
      this.#check();
      const kept = [];
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] !== n) append(kept, this.#list[i]);
      this.#list = kept;
    }
    get(name) { return this.#get(headerName(name)); }
    #get(n) {
      let out = null;
      for (let i = 0; i < this.#list.length; i++) {
        if (this.#list[i][0] === n) out = out === null ? this.#list[i][1] : out + ', ' + this.#list[i][1];
      }
      return out;
    }
    getSetCookie() {
      const out = [];
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] === 'set-cookie') append(out, this.#list[i][1]);
      return out;
    }
    has(name) {
      const n = headerName(name);
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] === n) return true;
      return false;
    }
    set(name, value) {
      const n = headerName(name);
      const v = headerValue(value);
      this.#check();
      const kept = [];
      let found = false;
      for (let i = 0; i < this.#list.length; i++) {
        if (this.#list[i][0] !== n) {
          append(kept, this.#list[i]);
        } else if (!found) {
          found = true;
          append(kept, [n, v]);
        }
      }
      if (!found) append(kept, [n, v]);
      this.#list = kept;
    }
    // Sorted by name, values of one name combined (set-cookie kept apart).
    #combined() {
      const names = [];
      const seen = {__proto__: null};
      for (let i = 0; i < this.#list.length; i++) {
        const n = this.#list[i][0];
        if (!(n in seen)) {
          seen[n] = true;
          append(names, n);
        }
      }
      for (let i = 1; i < names.length; i++) {
        const item = names[i];
        let k = i - 1;
        while (k >= 0 && names[k] > item) {
          names[k + 1] = names[k];
          k--;
        }
        names[k + 1] = item;
      }
      const out = [];
      for (let i = 0; i < names.length; i++) {
        if (names[i] === 'set-cookie') {
          for (let k = 0; k < this.#list.length; k++) {
            if (this.#list[k][0] === 'set-cookie') append(out, ['set-cookie', this.#list[k][1]]);
          }
        } else {
          append(out, [names[i], this.#get(names[i])]);
        }
      }
      return out;
    }
    forEach(callback, thisArg = undefined) {
      if (typeof callback !== 'function') throw new TypeErrorCtor('Headers.forEach: the callback must be a function');
      const pairs = this.#combined();
      for (let i = 0; i < pairs.length; i++) ReflectApply(callback, thisArg, [pairs[i][1], pairs[i][0], this]);
    }
    keys() { return new PairIterator(this.#combined(), 'keys'); }
    values() { return new PairIterator(this.#combined(), 'values'); }
    entries() { return new PairIterator(this.#combined(), 'entries'); }
    [SymbolIterator]() { return new PairIterator(this.#combined(), 'entries'); }
  }
  define(Headers.prototype, SymbolToStringTag, 'Headers');
  // {name: value} of a Headers (values of one name combined), for the host.
  function headersObject(h) {
    const list = headersList(h);
    const out = {__proto__: null};
    for (let i = 0; i < list.length; i++) {
      const n = list[i][0];
      out[n] = n in out ? out[n] + ', ' + list[i][1] : list[i][1];
    }
    return out;
  }

  // A body: null, a string (text), or a Uint8Array (bytes). [body, content type].
  function extractBody(body) {
    if (body === undefined || body === null) return [null, null];
    if (typeof body === 'string') return [body, 'text/plain;charset=UTF-8'];
    if (isObject(body)) {
      if (recordOf(body) !== undefined) return [serializeURL(recordOf(body)), 'text/plain;charset=UTF-8'];
      const bytes = bytesOf(body);
      if (bytes !== undefined) return [copyBytes(bytes), null];
      const form = paramsText(body);
      if (form !== undefined) return [form, 'application/x-www-form-urlencoded;charset=UTF-8'];
    }
    return [`${body}`, 'text/plain;charset=UTF-8'];
  }
  const bodyText = (body) =>
      (body === null ? '' : typeof body === 'string' ? body : utf8Decode(body, 0, TypedArrayLength(body)));
  const bodyBytes = (body) =>
      (body === null ? new Uint8ArrayCtor(0) : typeof body === 'string' ? utf8Encode(body) : copyBytes(body));

  // The body of a Request or Response, read once.
  let setBody;   // (holder, body)
  let peekBody;  // (holder) -> its body, unread
  let bodyUsed;  // (holder) -> whether it was read
  class Body {
    #body = null;
    #used = false;
    static {
      setBody = (holder, body) => { holder.#body = body; };
      peekBody = (holder) => holder.#body;
      bodyUsed = (holder) => holder.#used;
    }
    #take(what) {
      if (this.#used) throw new TypeErrorCtor(`${what}: the body has already been consumed`);
      this.#used = true;
      return this.#body;
    }
    get bodyUsed() { return this.#used; }
    async text() { return bodyText(this.#take('text()')); }
    async json() { return JSONParse(bodyText(this.#take('json()'))); }
    async arrayBuffer() { return TypedArrayBuffer(bodyBytes(this.#take('arrayBuffer()'))); }
    async bytes() { return bodyBytes(this.#take('bytes()')); }
    async blob() { throw new TypeErrorCtor('blob() is not supported here: use arrayBuffer(), bytes() or text()'); }
    async formData() { throw new TypeErrorCtor('formData() is not supported here: use text() or json()'); }
  }

  function httpMethod(method) {
    const m = `${method}`;
    if (m === '') throw new TypeErrorCtor('Invalid request method');
    for (let i = 0; i < m.length; i++) {
      if (!isTokenCode(StringCharCodeAt(m, i))) throw new TypeErrorCtor(`Invalid request method: '${m}'`);
    }
    const lower = StringToLowerCase(m);
    if (lower === 'connect' || lower === 'trace' || lower === 'track') {
      throw new TypeErrorCtor(`Forbidden request method: '${m}'`);
    }
    switch (lower) {
      case 'delete': case 'get': case 'head': case 'options': case 'post': case 'put': case 'patch':
        return StringToUpperCase(m);
      default:
        return m;
    }
  }

  class Request extends Body {
    #url;
    #method = 'GET';
    #headers;
    constructor(input, init = undefined) {
      super();
      let headersInit;
      let body = null;
      if (isObject(input) && #url in input) {
        this.#url = input.#url;
        this.#method = input.#method;
        headersInit = input.#headers;
        body = peekBody(input);
      } else {
        const text = recordOf(input) !== undefined ? serializeURL(recordOf(input)) : toUSV(input);
        const record = parseURL(text, null);
        if (record === null) throw new TypeErrorCtor(`Failed to parse URL from ${text}`);
        if (includesCredentials(record)) {
          throw new TypeErrorCtor(`Request cannot be constructed from a URL that includes credentials: ${text}`);
        }
        this.#url = serializeURL(record);
      }
      let contentType = null;
      if (init !== undefined && init !== null) {
        if (init.method !== undefined) this.#method = httpMethod(init.method);
        if (init.headers !== undefined) headersInit = init.headers;
        if (init.body !== undefined) {
          const extracted = extractBody(init.body);
          body = extracted[0];
          contentType = extracted[1];
        }
      }
      if (body !== null && (this.#method === 'GET' || this.#method === 'HEAD')) {
        throw new TypeErrorCtor('Request with GET/HEAD method cannot have body.');
      }
      this.#headers = new Headers(headersInit);
      if (contentType !== null) setDefault(this.#headers, 'content-type', contentType);
      setBody(this, body);
    }
    get url() { return this.#url; }
    get method() { return this.#method; }
    get headers() { return this.#headers; }
    get redirect() { return 'follow'; }
    clone() {
      if (bodyUsed(this)) throw new TypeErrorCtor('Request.clone: the body has already been consumed');
      return new Request(this);
    }
  }
  define(Request.prototype, SymbolToStringTag, 'Request');
  const RequestUrl = getterOf(Request.prototype, 'url');
  const RequestMethod = getterOf(Request.prototype, 'method');
  const RequestHeaders = getterOf(Request.prototype, 'headers');

  const nullBodyStatus = {__proto__: null, 101: 1, 103: 1, 204: 1, 205: 1, 304: 1};
  let makeResponse;  // (fields) -> Response
  class Response extends Body {
    #status = 200;
    #statusText = '';
    #headers;
    #url = '';
    #type = 'default';
    constructor(body = null, init = undefined) {
      super();
      let status = 200;
      let statusText = '';
      let headersInit;
      if (init !== undefined && init !== null) {
        if (init.status !== undefined) status = NumberCtor(init.status);
        if (init.statusText !== undefined) statusText = `${init.statusText}`;
        headersInit = init.headers;
      }
      if (!(status >= 200 && status <= 599) || MathTrunc(status) !== status) {
        throw new RangeErrorCtor(`The status provided (${status}) is outside the range [200, 599].`);
      }
      const extracted = extractBody(body);
      if (extracted[0] !== null && status in nullBodyStatus) {
        throw new TypeErrorCtor(`Response with null body status (${status}) cannot have body`);
      }
      this.#status = status;
      this.#statusText = statusText;
      this.#headers = new Headers(headersInit);
      if (extracted[1] !== null) setDefault(this.#headers, 'content-type', extracted[1]);
      setBody(this, extracted[0]);
    }
    static {
      makeResponse = (f) => {
        const r = new Response(null);
        r.#status = f.status;
        r.#statusText = f.statusText;
        r.#headers = f.headers;
        r.#url = f.url;
        r.#type = f.type;
        setBody(r, f.body);
        return r;
      };
    }
    static json(data, init = undefined) {
      const text = JSONStringify(data);
      if (text === undefined) throw new TypeErrorCtor('Response.json: the data is not JSON-serializable');
      const r = new Response(text, init);
      const list = headersList(r.#headers);
      for (let i = 0; i < list.length; i++) if (list[i][0] === 'content-type') list[i][1] = 'application/json';
      return r;
    }
    static error() {
      const r = makeResponse(
          {__proto__: null, status: 0, statusText: '', headers: new Headers(), url: '', type: 'error', body: null});
      setGuard(r.#headers, 'immutable');
      return r;
    }
    static redirect(url, status = 302) {
      const record = parseURL(toUSV(url), null);
      if (record === null) throw new TypeErrorCtor(`Failed to parse URL from ${url}`);
      if (!(status === 301 || status === 302 || status === 303 || status === 307 || status === 308)) {
        throw new RangeErrorCtor(`Invalid status code: ${status}`);
      }
      const headers = new Headers([['location', serializeURL(record)]]);
      setGuard(headers, 'immutable');
      return makeResponse({__proto__: null, status, statusText: '', headers, url: '', type: 'default', body: null});
    }
    get status() { return this.#status; }
    get statusText() { return this.#statusText; }
    get ok() { return this.#status >= 200 && this.#status <= 299; }
    get headers() { return this.#headers; }
    get url() { return this.#url; }
    get type() { return this.#type; }
    get redirected() { return false; }
    clone() {
      if (bodyUsed(this)) throw new TypeErrorCtor('Response.clone: the body has already been consumed');
      const headers = new Headers(this.#headers);
      if (this.#type !== 'default') setGuard(headers, 'immutable');
      return makeResponse({__proto__: null, status: this.#status, statusText: this.#statusText, headers,
                           url: this.#url, type: this.#type, body: peekBody(this)});
    }
  }
  define(Response.prototype, SymbolToStringTag, 'Response');

  // fetch is a durable host call: __callHostTool__('http', 'fetch', {url,
  // method, headers, body, bodyEncoding}) answered with {status, statusText,
  // headers, body, bodyEncoding, url}. Its result is journaled like any
  // call's (a replay sees the same response).
  async function fetch(input, init = undefined) {
    const request = new Request(input, init);
    const body = peekBody(request);
    const binary = body !== null && typeof body !== 'string';
    const url = RequestUrl(request);
    const hash = StringIndexOf(url, '#');  // (a '#' elsewhere in a URL is percent-encoded)
    const payload = {
      __proto__: null,
      url: hash < 0 ? url : StringSlice(url, 0, hash),  // the fragment is not sent
      method: RequestMethod(request),
      headers: headersObject(RequestHeaders(request)),
      body: body === null ? null : binary ? bytesToBase64(body) : body,
      bodyEncoding: binary ? 'base64' : 'utf8',
    };
    let answer;
    try {
      answer = await queueCall('http', 'fetch', JSONStringify(payload));
    } catch (e) {
      throw new TypeErrorCtor(`fetch failed: ${isError(e) ? e.message : format(e)}`, {__proto__: null, cause: e});
    }
    if (!isObject(answer)) throw new TypeErrorCtor('fetch failed: the http service answered without a response');
    const headers = new Headers();
    const list = headersList(headers);
    const given = answer.headers;
    if (isObject(given)) {
      const names = ObjectKeys(given);
      for (let i = 0; i < names.length; i++) {
        const value = given[names[i]];
        if (ArrayIsArray(value)) {
          for (let k = 0; k < value.length; k++) append(list, [headerName(names[i]), headerValue(value[k])]);
        } else if (value !== undefined && value !== null) {
          append(list, [headerName(names[i]), headerValue(value)]);
        }
      }
    }
    setGuard(headers, 'immutable');
    let responseBody = null;
    if (typeof answer.body === 'string') {
      if (answer.bodyEncoding === 'base64') {
        responseBody = base64Decode(answer.body);
        if (responseBody === undefined) throw new TypeErrorCtor('fetch failed: the response body is not valid base64');
      } else {
        responseBody = answer.body;
      }
    }
    const status = typeof answer.status === 'number' ? answer.status : 0;
    return makeResponse({
      __proto__: null,
      status,
      statusText: typeof answer.statusText === 'string' ? answer.statusText : '',
      headers,
      url: typeof answer.url === 'string' && answer.url !== '' ? answer.url : url,
      type: 'basic',
      body: responseBody,
    });
  }

  return {__proto__: null, fetch, Headers, Request, Response};
})
