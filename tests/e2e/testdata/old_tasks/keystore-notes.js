/**
 * Keeps a note in the keystore with the old positional calls.
 * @param {Object} input
 * @param {string} input.note - what to keep
 * @example {"note": "remember the milk"}
 */
module.exports = async function execute(input, { tools }) {
  await __callHostTool__('keystore', 'setKey', 'notes', 'latest', input.note);
  const value = await __callHostTool__('keystore', ['getKey'], ['notes', 'latest']);
  const has = await __callHostTool__('keystore', 'hasKey', 'notes', 'latest');
  const keys = await tools.keystore.listKeys('notes');
  const time = await __callHostTool__('keystore', 'getServerTime');
  return { value, has, keys, timeOk: typeof time.timestamp === 'string' };
};
