// Drives the web UI in headless Chromium (puppeteer-core, Debian's chromium):
//
//   node web_ui_browser.js URL TASK DESCRIPTION OUT_DIR
//
// Loads URL, checks TASK and DESCRIPTION are listed, opens the task, submits
// a run with the form's prefilled input (the task's @example), waits until
// the page shows it completed with its result, opens the run page, checks the
// stack-run tree shows the calls, and saves PNG screenshots into OUT_DIR.
// Prints one JSON line {ok, runId, result, calls, screenshots} (and exits 1
// with {ok: false, error, step} on the first failed check).
'use strict';
const path = require('path');
const puppeteer = require('puppeteer-core');

const [url, task, description, outDir] = process.argv.slice(2);
const STEP_TIMEOUT = 20000;
let step = 'launch';

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // --no-sandbox: the test runs as root; the rest keeps Chromium light on a
    // small machine.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions',
           '--hide-scrollbars', '--mute-audio'],
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.on('pageerror', (e) => errors.push('page error: ' + e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
    await page.setViewport({width: 1280, height: 860, deviceScaleFactor: 1});
    const shots = [];
    const shot = async (name) => {
      // The "submitted" toast would cover part of the page.
      await page.evaluate(() => document.querySelectorAll('.toast').forEach((e) => e.remove()));
      const file = path.join(outDir, name);
      await page.screenshot({path: file, fullPage: true});
      shots.push(file);
    };

    step = 'task list';
    await page.goto(url, {waitUntil: 'networkidle2'});
    await page.waitForSelector(`.card[data-task="${task}"]`);
    const card = await page.$eval(`.card[data-task="${task}"]`, (el) => el.innerText);
    if (!card.includes(description)) throw new Error(`the card of ${task} does not show "${description}": ${card}`);
    await shot('web-ui-tasks.png');

    step = 'task page';
    await page.click(`.card[data-task="${task}"] .btn`);
    await page.waitForSelector('#submit-form textarea');
    const prefilled = await page.$eval('#input', (el) => el.value);
    JSON.parse(prefilled);  // the @example, valid JSON
    // Invalid JSON is refused before sending.
    await page.$eval('#input', (el) => { el.value = '{"broken": '; el.dispatchEvent(new Event('input')); });
    const disabled = await page.$eval('#submit', (el) => el.disabled);
    const hint = await page.$eval('#input-hint', (el) => el.textContent);
    if (!disabled || !hint) throw new Error('invalid JSON did not disable the submit button');
    await page.click('#submit-form .btn.ghost');  // Reset: back to the example
    if ((await page.$eval('#input', (el) => el.value)) !== prefilled) throw new Error('Reset did not restore the example');

    step = 'submit';
    await page.click('#submit');
    await page.waitForSelector('#last-run [data-run-id]');
    const runId = await page.$eval('#last-run [data-run-id]', (el) => el.dataset.runId);
    await page.waitForFunction(() => {
      const b = document.querySelector('#last-run .badge');
      return b && b.dataset.status === 'completed' && document.querySelector('#last-result');
    });
    const result = JSON.parse(await page.$eval('#last-result', (el) => el.textContent));
    // The runs table below the form lists it, completed.
    await page.waitForFunction((id) => {
      const row = document.querySelector(`#task-runs tr[data-run-id="${id}"] .badge`);
      return row && row.dataset.status === 'completed';
    }, {}, runId);
    await shot('web-ui-task.png');

    step = 'runs list';
    await page.goto(url + '#/runs', {waitUntil: 'networkidle2'});
    await page.waitForFunction((id) => {
      const row = document.querySelector(`#runs tr[data-run-id="${id}"] .badge`);
      return row && row.dataset.status === 'completed';
    }, {}, runId);

    step = 'run page';
    await page.click(`#runs tr[data-run-id="${runId}"] a`);
    await page.waitForSelector('#run-result');
    await page.waitForSelector('.tree .node .node .node-row');
    const calls = await page.$$eval('.tree .node .node > .node-row .name', (els) => els.map((e) => e.textContent));
    if (!calls.length) throw new Error('the stack-run tree shows no call');
    const status = await page.$eval('#run-status .badge', (el) => el.dataset.status);
    if (status !== 'completed') throw new Error('run page status: ' + status);
    // Open the first call: its args and result show.
    await page.click('.tree .node .node > .node-row');
    await page.waitForSelector('.tree .node .node.open .node-detail pre.json');
    const logs = await page.$$eval('.logs .line .msg', (els) => els.map((e) => e.textContent));
    await shot('web-ui-run.png');

    if (errors.length) throw new Error(errors.join('; '));
    console.log(JSON.stringify({ok: true, runId, result, calls, logs, screenshots: shots}));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.log(JSON.stringify({ok: false, step, error: String(e && e.stack || e)}));
  process.exit(1);
});
