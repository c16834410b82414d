/**
 * @description The web platform globals an old task leaned on.
 * @example {"name": "Zoë", "url": "https://api.example.com/v1/items?page=2#top"}
 */
module.exports = async function (input) {
  const id = crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  const url = new URL(input.url);
  url.searchParams.set('page', '3');
  url.searchParams.append('q', 'a b&c');
  const query = new URLSearchParams({ a: '1', b: 'two' });
  const encoded = new TextEncoder().encode(input.name);
  const decoded = new TextDecoder().decode(encoded);
  const b64 = btoa('hello');
  const copy = structuredClone({ when: new Date(0), tags: new Set(['x']), nested: { n: 1 } });
  console.log('uuid', id);
  return {
    uuidOk: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id),
    randomBytes: bytes.length,
    host: url.host,
    href: url.href,
    query: query.toString(),
    utf8Bytes: encoded.length,
    decoded,
    b64,
    unb64: atob(b64),
    cloneOk: copy.when instanceof Date && copy.tags.has('x') && copy.nested.n === 1,
  };
};
