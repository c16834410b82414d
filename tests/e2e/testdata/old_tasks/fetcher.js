/**
 * Fetches JSON over HTTP as a durable call.
 * @param {Object} input
 * @param {string} input.url
 */
module.exports = async function (input) {
  const res = await fetch(input.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hello: 'world' }) });
  const body = await res.json();
  return { status: res.status, ok: res.ok, type: res.headers.get('content-type'), body };
};
