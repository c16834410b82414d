/**
 * Waits with the timers tasks written for Deno use.
 * @param {Object} input
 * @param {number} [input.ms=300] - how long to wait
 * @example {"ms": 300}
 */
module.exports = async function ({ ms = 300 }) {
  const sleep = (t) => new Promise((resolve) => setTimeout(resolve, t));
  const started = Date.now();
  await sleep(ms);
  const ticks = [];
  await new Promise((resolve) => {
    const id = setInterval(() => {
      ticks.push(ticks.length + 1);
      if (ticks.length === 3) {
        clearInterval(id);
        resolve();
      }
    }, 50);
  });
  let cancelledRan = false;
  const cancelled = setTimeout(() => { cancelledRan = true; }, 10);
  clearTimeout(cancelled);
  await sleep(30);
  return { waited: Date.now() - started >= ms, ticks, cancelledRan };
};
