// Tasker's web UI: a single-page app over the gateway's JSON (/api/...).
// Pages (hash routes): #/ tasks, #/tasks/NAME (submit a run), #/runs,
// #/runs/ID (the stack runs as a tree and timeline, the logs, input, result).
// No framework and no build step: DOM built with h(), pages polled about once
// a second while something can still change.
'use strict';

(() => {
  const app = document.getElementById('app');
  const conn = document.getElementById('conn');
  const banner = document.getElementById('banner');
  const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
  const POLL_MS = 1000;
  let token = sessionStorage.getItem('tasker.token') || '';
  let generation = 0;  // bumped by every navigation: stale pollers stop

  // ---------------------------------------------------------------- helpers

  // h('div', {class: 'x', onclick: f}, 'text', child, [children]) -> element
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else el.setAttribute(key, value === true ? '' : value);
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      if (Array.isArray(child)) append(el, child);
      else el.append(child instanceof Node ? child : String(child));
    }
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = {Accept: 'application/json'};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = 'Bearer ' + token;
    let res;
    try {
      res = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
    } catch (e) {
      setConn(false);
      throw new ApiError(0, 'UNAVAILABLE', 'cannot reach the server');
    }
    setConn(true);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!res.ok) {
      if (res.status === 401) askForToken();
      const err = (data && data.error) || {};
      throw new ApiError(res.status, err.code || 'HTTP_' + res.status, err.message || text || res.statusText);
    }
    return data;
  }

  function setConn(up) {
    conn.className = 'conn ' + (up ? 'live' : 'down');
    conn.textContent = up ? 'live' : 'offline';
  }

  function askForToken() {
    if (!banner.hidden) return;
    const input = h('input', {type: 'password', placeholder: 'bearer token (role client or admin)', 'aria-label': 'token'});
    banner.replaceChildren(
      h('span', {}, 'This server wants a token.'), input,
      h('button', {class: 'btn small', onclick: () => {
        token = input.value.trim();
        sessionStorage.setItem('tasker.token', token);
        banner.hidden = true;
        route();
      }}, 'Use it'));
    banner.hidden = false;
  }

  // Statuses as the API names them (RUN_STATUS_COMPLETED) -> a short label.
  function statusLabel(status) {
    const s = String(status || '').replace(/^(RUN|STACK_RUN)_STATUS_/, '').toLowerCase();
    if (s === 'suspended_waiting_child') return 'waiting';
    if (s === 'ready_to_resume') return 'ready';
    return s.replace(/_/g, ' ') || 'unknown';
  }
  const badge = (status) => h('span', {class: 'badge ' + statusLabel(status), 'data-status': statusLabel(status)},
                              statusLabel(status));

  const ms = (t) => (t ? Date.parse(t) : NaN);
  function duration(millis) {
    if (!isFinite(millis) || millis < 0) return '–';
    if (millis < 1000) return Math.round(millis) + ' ms';
    if (millis < 60000) return (millis / 1000).toFixed(millis < 10000 ? 2 : 1) + ' s';
    const m = Math.floor(millis / 60000), s = Math.round((millis % 60000) / 1000);
    if (m < 60) return m + 'm ' + s + 's';
    return Math.floor(m / 60) + 'h ' + (m % 60) + 'm';
  }
  function ago(t) {
    const d = Date.now() - ms(t);
    if (!isFinite(d)) return '';
    if (d < 5000) return 'just now';
    if (d < 60000) return Math.round(d / 1000) + 's ago';
    if (d < 3600000) return Math.round(d / 60000) + ' min ago';
    if (d < 86400000) return Math.round(d / 3600000) + ' h ago';
    return new Date(ms(t)).toLocaleString();
  }
  const clock = (t) => (t ? new Date(ms(t)).toLocaleTimeString() : '');
  // A run's (or stack run's) duration: to its end, or to now while it goes on.
  function runMillis(r) {
    const end = r.completedAt || (TERMINAL.has(statusLabel(r.status)) ? r.updatedAt : null);
    return (end ? ms(end) : Date.now()) - ms(r.createdAt);
  }
  const shortId = (id) => (id && id.length > 14 ? id.slice(0, 4) + '…' + id.slice(-8) : id);

  // A call's args in a line: {table: "greetings", filters: [1]}.
  function brief(value) {
    const text = JSON.stringify(value === undefined ? null : value);
    return text.length > 70 ? text.slice(0, 70) + '…' : text;
  }

  function preview(value) {
    if (value === undefined) return '';
    const text = JSON.stringify(value);
    return text && text.length > 160 ? text.slice(0, 160) + '…' : text;
  }

  // Pretty JSON with keys, strings, numbers and literals coloured; text only
  // (no HTML is ever parsed from data).
  function jsonPre(value, attrs) {
    const pre = h('pre', Object.assign({class: 'json'}, attrs || {}));
    const text = value === undefined ? 'null' : JSON.stringify(value, null, 2);
    const re = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      if (m.index > last) pre.append(text.slice(last, m.index));
      const cls = m[1] ? (m[2] ? 'k' : 's') : m[3] ? 'b' : 'n';
      pre.append(h('span', {class: 'j-' + cls}, m[1] || m[0]));
      if (m[2]) pre.append(m[2]);
      last = re.lastIndex;
    }
    pre.append(text.slice(last));
    return pre;
  }

  function errorBox(error) {
    if (!error) return null;
    return h('div', {class: 'error-box', 'data-role': 'error'},
             error.code ? h('span', {class: 'code'}, error.code) : null, error.message || 'failed',
             error.stack ? h('pre', {class: 'small'}, error.stack) : null,
             error.details !== undefined && error.details !== null ? jsonPre(error.details) : null);
  }

  function toast(text) {
    const el = h('div', {class: 'toast', role: 'status'}, text);
    document.body.append(el);
    setTimeout(() => el.remove(), 3000);
  }

  // Calls fn now and then every POLL_MS until the page changes or fn returns
  // false. Skips rounds while the tab is hidden.
  function poll(fn) {
    const mine = generation;
    let stopped = false;
    const tick = async () => {
      if (mine !== generation || stopped) return;
      let again = true;
      if (!document.hidden) {
        try {
          again = (await fn()) !== false;
        } catch (e) {
          // Shown by fn's own rendering or the connection indicator; try again.
        }
      }
      if (again && mine === generation) setTimeout(tick, POLL_MS);
    };
    tick();
    return () => { stopped = true; };
  }

  // Replaces el's children (null and false are skipped, arrays flattened).
  function fill(el, ...children) {
    el.replaceChildren();
    append(el, children);
    return el;
  }
  function page(...children) {
    fill(app, children);
  }

  // A JSDoc description: paragraphs split by blank lines; the lines of a
  // paragraph are one text (JSDoc wraps them), list items keep their line.
  function prose(text) {
    return String(text).split(/\n\s*\n/).map((para) =>
      h('p', {}, para.split('\n').map((line, i, lines) => {
        const next = lines[i + 1];
        const breakAfter = next !== undefined && /^\s*([-*•]|\d+[.)])\s/.test(next);
        return [line.trim(), next === undefined ? null : breakAfter ? h('br') : ' '];
      })));
  }
  function failure(e) {
    page(h('div', {class: 'panel'}, errorBox({code: e.code, message: e.message})));
  }

  // ------------------------------------------------------------------ tasks

  // A task's metadata (description, params, example) as published.
  const meta = (f) => (f.metadata && typeof f.metadata === 'object' ? f.metadata : {});

  function paramChips(params) {
    if (!params || !params.length) return null;
    return h('div', {class: 'chips'}, params.map((p) =>
      h('span', {class: 'chip', title: p.description || ''}, h('b', {}, p.name + (p.optional ? '?' : '')),
        p.type ? ': ' + p.type : '')));
  }

  async function pageTasks() {
    const mine = generation;
    let last = '';
    poll(async () => {
      const data = await api('GET', '/api/tasks').catch((e) => { if (!last) failure(e); throw e; });
      if (mine !== generation) return false;
      const key = JSON.stringify(data);
      if (key === last) return true;
      last = key;
      const tasks = data.tasks || [];
      page(
        h('div', {class: 'page-head'}, h('h1', {}, 'Tasks'),
          h('span', {class: 'muted'}, tasks.length + (tasks.length === 1 ? ' task' : ' tasks'))),
        tasks.length ? h('div', {class: 'cards'}, tasks.map(taskCard)) :
          h('div', {class: 'panel empty'},
            h('p', {}, 'No tasks published yet.'),
            h('p', {class: 'small'}, 'With ', h('code', {}, 'tasker dev'), ' running, add ', h('code', {}, 'tasks/hello.js'),
              ': it is published as task ', h('code', {}, 'hello'), ' within a second.')));
      return true;
    });
  }

  function taskCard(f) {
    const m = meta(f);
    const href = '#/tasks/' + encodeURIComponent(f.identifier);
    return h('div', {class: 'card', 'data-task': f.identifier},
      h('div', {class: 'card-title'}, h('a', {href}, f.identifier), h('span', {class: 'version'}, 'v' + f.version)),
      m.description ? h('div', {class: 'desc'}, prose(m.description)) : h('div', {class: 'desc muted'}, 'No description.'),
      paramChips(m.params),
      h('div', {class: 'foot'}, h('span', {class: 'small muted'}, 'published ' + ago(f.createdAt)),
        h('a', {class: 'btn small', href}, 'Run ▸')));
  }

  // The input the form starts with: the @example, else the params' defaults.
  function exampleInput(m) {
    if (m.example !== undefined) return m.example;
    const input = {};
    let any = false;
    for (const p of m.params || []) {
      let name = p.name;
      if (name === 'input') continue;
      if (name.startsWith('input.')) name = name.slice(6);
      if (name.includes('.')) continue;
      any = true;
      if (p.default !== undefined) {
        try { input[name] = JSON.parse(p.default); } catch (e) { input[name] = p.default.replace(/^['"]|['"]$/g, ''); }
      } else {
        const t = String(p.type || '').toLowerCase();
        input[name] = t.includes('number') || t.includes('int') ? 0 : t.includes('bool') ? false :
                      t.includes('[]') || t.includes('array') ? [] : t.includes('object') ? {} : '';
      }
    }
    return any ? input : {};
  }

  async function pageTask(name) {
    const mine = generation;
    let versions;
    try {
      versions = (await api('GET', '/api/tasks/' + encodeURIComponent(name))).versions || [];
    } catch (e) {
      return failure(e);
    }
    if (mine !== generation) return;
    const f = versions[0];
    const m = meta(f);
    const example = JSON.stringify(exampleInput(m), null, 2);
    const textarea = h('textarea', {id: 'input', spellcheck: 'false', 'aria-label': 'input JSON'});
    textarea.value = example;
    const hint = h('span', {class: 'hint', id: 'input-hint'});
    const submit = h('button', {class: 'btn', type: 'submit', id: 'submit'}, 'Submit run');
    const lastRun = h('div', {id: 'last-run'});
    const runsBox = h('div', {class: 'panel flush'}, h('h2', {}, 'Runs of ' + name), h('div', {id: 'task-runs'}));

    const validate = () => {
      const text = textarea.value.trim();
      try {
        JSON.parse(text === '' ? 'null' : text);
        textarea.classList.remove('invalid');
        hint.className = 'hint ok';
        hint.textContent = 'valid JSON';
        submit.disabled = false;
        return true;
      } catch (e) {
        textarea.classList.add('invalid');
        hint.className = 'hint err';
        hint.textContent = e.message;
        submit.disabled = true;
        return false;
      }
    };
    textarea.addEventListener('input', validate);
    textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
    });
    let watching = null;
    const form = h('form', {class: 'panel', id: 'submit-form', onsubmit: async (e) => {
      e.preventDefault();
      if (!validate()) return;
      submit.disabled = true;
      const text = textarea.value.trim();
      try {
        const res = await api('POST', '/api/runs', {task: name, input: JSON.parse(text === '' ? 'null' : text)});
        toast('Submitted run ' + shortId(res.run.id));
        if (watching) watching();
        watching = watchLastRun(res.run.id, lastRun);
        refreshRuns();
      } catch (err) {
        hint.className = 'hint err';
        hint.textContent = err.message;
      } finally {
        submit.disabled = false;
      }
    }},
      h('h2', {}, 'Submit a run'),
      h('label', {class: 'hint', for: 'input'}, 'Input (JSON)' + (m.example !== undefined ? ', from the @example' : '')),
      textarea,
      h('div', {class: 'form-row'}, submit,
        h('button', {class: 'btn ghost', type: 'button', onclick: () => { textarea.value = example; validate(); }},
          'Reset'),
        hint, h('span', {class: 'hint', title: 'or Ctrl+Enter in the input'}, '⌃↵ submits')),
      lastRun);

    const params = m.params && m.params.length ? h('table', {class: 'params'},
      h('thead', {}, h('tr', {}, h('th', {}, 'Param'), h('th', {}, 'Type'), h('th', {}, 'Default'), h('th', {}, 'Description'))),
      h('tbody', {}, m.params.map((p) => h('tr', {},
        h('td', {}, p.name, p.optional ? h('span', {class: 'muted'}, ' (optional)') : ''),
        h('td', {class: 'mono'}, p.type || ''), h('td', {class: 'mono'}, p.default !== undefined ? p.default : ''),
        h('td', {}, p.description || ''))))) : h('p', {class: 'muted small'}, 'No @param documented.');

    page(
      h('div', {class: 'crumbs'}, h('a', {href: '#/'}, 'Tasks'), ' / ' + name),
      h('div', {class: 'page-head'}, h('h1', {class: 'mono'}, name), h('span', {class: 'version'}, 'v' + f.version),
        h('span', {class: 'muted small'}, 'published ' + ago(f.createdAt) + ' · ' + versions.length +
          (versions.length === 1 ? ' version' : ' versions'))),
      h('div', {class: 'grid-2'},
        h('div', {},
          h('div', {class: 'panel', id: 'task-doc'},
            h('div', {class: 'desc', id: 'task-description'},
              m.description ? prose(m.description) : h('span', {class: 'muted'}, 'No description.')),
            h('h3', {}, 'Parameters'), params,
            m.returns ? [h('h3', {}, 'Returns'), h('div', {}, h('code', {}, m.returns.type || ''), ' ',
                                                  m.returns.description || '')] : null),
          f.code !== undefined ? h('details', {class: 'panel'}, h('summary', {}, 'Source (v' + f.version + ')'),
                                   h('pre', {class: 'code'}, f.code)) : null),
        h('div', {}, form)),
      runsBox);
    validate();

    let lastKey = '';
    const refreshRuns = async () => {
      const data = await api('GET', '/api/runs?limit=20&task=' + encodeURIComponent(name));
      if (mine !== generation) return false;
      const key = JSON.stringify(data.runs || []);
      if (key !== lastKey) {
        lastKey = key;
        document.getElementById('task-runs').replaceChildren(runsTable(data.runs || [], false));
      }
      return true;
    };
    poll(refreshRuns);
  }

  // The run just submitted, under the form: its status, then its result.
  function watchLastRun(id, box) {
    return poll(async () => {
      const data = await api('GET', '/api/runs/' + encodeURIComponent(id));
      const run = data.run;
      const done = TERMINAL.has(statusLabel(run.status));
      fill(box,
        h('h3', {}, 'Last run'),
        h('div', {class: 'form-row', 'data-run-id': run.id}, badge(run.status),
          h('a', {href: '#/runs/' + encodeURIComponent(run.id), class: 'mono'}, shortId(run.id)),
          h('span', {class: 'muted'}, duration(runMillis(run)))),
        done && run.error ? errorBox(run.error) : null,
        done && !run.error ? jsonPre(run.result, {id: 'last-result'}) : null);
      return !done;
    });
  }

  // ------------------------------------------------------------------- runs

  function runsTable(runs, withTask) {
    if (!runs.length) return h('div', {class: 'empty'}, 'No runs yet.');
    return h('table', {class: 'runs'},
      h('thead', {}, h('tr', {}, h('th', {}, 'Status'), withTask ? h('th', {}, 'Task') : null, h('th', {}, 'Run'),
        h('th', {}, 'Started'), h('th', {class: 'num'}, 'Duration'), h('th', {}, 'Result'))),
      h('tbody', {}, runs.map((r) => {
        const href = '#/runs/' + encodeURIComponent(r.id);
        const fresh = Date.now() - ms(r.createdAt) < 2000;
        return h('tr', {class: 'link' + (fresh ? ' fresh' : ''), 'data-run-id': r.id, onclick: () => { location.hash = href; }},
          h('td', {}, badge(r.status)),
          withTask ? h('td', {class: 'mono'}, r.taskIdentifier, h('span', {class: 'muted'}, ' v' + r.taskVersion)) : null,
          h('td', {class: 'mono'}, h('a', {href, title: r.id}, shortId(r.id)),
            withTask ? null : h('span', {class: 'muted'}, ' v' + r.taskVersion)),
          h('td', {title: r.createdAt}, ago(r.createdAt)),
          h('td', {class: 'num'}, duration(runMillis(r))),
          h('td', {}, r.error ? h('div', {class: 'preview err'}, (r.error.code ? r.error.code + ': ' : '') + r.error.message)
                             : h('div', {class: 'preview'}, preview(r.result))));
      })));
  }

  async function pageRuns(params) {
    const mine = generation;
    const status = params.get('status') || '';
    const task = params.get('task') || '';
    const go = (s, t) => {
      const q = new URLSearchParams();
      if (s) q.set('status', s);
      if (t) q.set('task', t);
      location.hash = '#/runs' + (q.toString() ? '?' + q : '');
    };
    const select = h('select', {'aria-label': 'task', onchange: (e) => go(status, e.target.value)},
                     h('option', {value: ''}, 'all tasks'));
    api('GET', '/api/tasks').then((data) => {
      for (const f of data.tasks || []) select.append(h('option', {value: f.identifier, selected: f.identifier === task}, f.identifier));
    }).catch(() => {});
    const list = h('div', {id: 'runs'});
    page(
      h('div', {class: 'page-head'}, h('h1', {}, 'Runs'), h('span', {class: 'muted small'}, 'live')),
      h('div', {class: 'filters'},
        ['', 'running', 'suspended', 'completed', 'failed', 'cancelled'].map((s) =>
          h('button', {class: 'seg' + (s === status ? ' on' : ''), onclick: () => go(s, task)}, s || 'all')),
        select),
      h('div', {class: 'panel flush'}, list));
    let last = '';
    poll(async () => {
      const q = new URLSearchParams({limit: '100'});
      if (status) q.set('status', status);
      if (task) q.set('task', task);
      const data = await api('GET', '/api/runs?' + q).catch((e) => { list.replaceChildren(errorBox(e)); throw e; });
      if (mine !== generation) return false;
      const key = JSON.stringify(data.runs || []);
      if (key !== last) {
        last = key;
        list.replaceChildren(runsTable(data.runs || [], true));
      } else {
        // Durations of runs still going on move with the clock.
        for (const row of list.querySelectorAll('tbody tr')) {
          const r = (data.runs || []).find((x) => x.id === row.dataset.runId);
          if (r && !TERMINAL.has(statusLabel(r.status))) row.children[4].textContent = duration(runMillis(r));
        }
      }
      return true;
    });
  }

  // -------------------------------------------------------------- run page

  async function pageRun(id) {
    const mine = generation;
    const open = new Set();  // stack runs whose details are shown
    let last = '';
    let first = true;
    poll(async () => {
      let data;
      try {
        data = await api('GET', '/api/runs/' + encodeURIComponent(id));
      } catch (e) {
        if (first) failure(e);
        throw e;
      }
      if (mine !== generation) return false;
      first = false;
      const key = JSON.stringify(data);
      const run = data.run;
      const done = TERMINAL.has(statusLabel(run.status));
      if (key !== last) {
        last = key;
        renderRun(run, data.stackRuns || [], open);
      } else if (!done) {
        const d = document.getElementById('run-duration');
        if (d) d.textContent = duration(runMillis(run));
      }
      // Calls may still be finishing (a cancelled run's) after the run ended.
      return !done || (data.stackRuns || []).some((s) => !TERMINAL.has(statusLabel(s.status)));
    });
  }

  function fact(label, value, attrs) {
    return h('div', {class: 'fact'}, h('span', {class: 'label'}, label), h('span', Object.assign({class: 'value'}, attrs || {}), value));
  }

  function renderRun(run, stackRuns, open) {
    const done = TERMINAL.has(statusLabel(run.status));
    const cancel = done ? null : h('button', {class: 'btn danger small right', onclick: async () => {
      try {
        await api('POST', '/api/runs/' + encodeURIComponent(run.id) + '/cancel');
      } catch (e) {
        toast(e.message);
      }
    }}, 'Cancel run');
    const calls = stackRuns.filter((s) => s.parentId);
    page(
      h('div', {class: 'crumbs'}, h('a', {href: '#/runs'}, 'Runs'), ' / ', h('span', {class: 'mono'}, run.id)),
      h('div', {class: 'page-head'},
        h('h1', {}, h('a', {href: '#/tasks/' + encodeURIComponent(run.taskIdentifier), class: 'mono'}, run.taskIdentifier)),
        h('span', {class: 'version'}, 'v' + run.taskVersion), h('span', {id: 'run-status'}, badge(run.status)), cancel),
      h('div', {class: 'facts'},
        fact('Run', run.id, {class: 'value mono'}),
        fact('Started', clock(run.createdAt), {title: run.createdAt}),
        fact('Duration', duration(runMillis(run)), {id: 'run-duration'}),
        fact('Calls', String(calls.length)),
        fact('Suspensions', String(run.suspendCount || 0)),
        run.idempotencyKey ? fact('Idempotency key', run.idempotencyKey, {class: 'value mono'}) : null),
      h('div', {class: 'grid-2'},
        h('div', {class: 'panel'}, h('h2', {}, 'Input'), jsonPre(run.input, {id: 'run-input'})),
        h('div', {class: 'panel'}, h('h2', {}, run.error ? 'Error' : 'Result'),
          run.error ? errorBox(run.error) : done ? jsonPre(run.result, {id: 'run-result'}) :
            h('p', {class: 'muted'}, 'Not finished yet.'))),
      h('div', {class: 'panel flush'}, h('h2', {}, 'Stack runs'), stackTree(run, stackRuns, open)),
      h('div', {class: 'panel flush'}, h('h2', {}, 'Logs'), logsView(run)));
  }

  function stackTree(run, stackRuns, open) {
    if (!stackRuns.length) return h('div', {class: 'empty'}, 'No stack runs.');
    // The timeline spans the run, from its creation to the last end seen.
    const start = ms(run.createdAt);
    let end = start + 1;
    for (const s of stackRuns) end = Math.max(end, ms(s.createdAt) + Math.max(0, runMillis(s)));
    end = Math.max(end, ms(run.completedAt) || 0);
    const span = end - start;
    const children = new Map();
    for (const s of stackRuns) {
      const parent = s.parentId || '';
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(s);
    }
    for (const list of children.values()) list.sort((a, b) => (a.callIndex || 0) - (b.callIndex || 0) || ms(a.createdAt) - ms(b.createdAt));
    const node = (s) => {
      const isRoot = !s.parentId;
      const label = isRoot ? run.taskIdentifier + ' v' + run.taskVersion : s.service + '.' + s.method;
      const millis = runMillis(s);
      const left = ((ms(s.createdAt) - start) / span) * 100;
      const width = (Math.max(0, millis) / span) * 100;
      const bar = h('div', {class: 'bar ' + statusLabel(s.status), title: duration(millis)});
      bar.style.left = Math.min(99.5, Math.max(0, left)) + '%';
      bar.style.width = Math.max(0.5, Math.min(100 - left, width)) + '%';
      const attempts = s.attempt || 0;
      const el = h('div', {class: 'node' + (open.has(s.id) ? ' open' : ''), 'data-stack-run': s.id},
        h('div', {class: 'node-row', role: 'button', tabindex: '0', 'aria-expanded': open.has(s.id) ? 'true' : 'false',
                  onclick: () => toggle(), onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(); } }},
          h('div', {class: 'label'}, h('span', {class: 'twisty'}, '▸'), badge(s.status),
            h('span', {class: 'name', title: label}, label),
            isRoot ? h('span', {class: 'muted small'}, 'execution') :
              h('span', {class: 'args-preview', title: JSON.stringify(s.args)}, '#' + (s.callIndex || '') + ' ' + brief(s.args))),
          h('span', {class: 'attempts' + (!isRoot && attempts > 1 ? ' retried' : '')},
            isRoot ? (attempts === 1 ? '1 execution' : attempts + ' executions') : (attempts === 1 ? '1 attempt' : attempts + ' attempts')),
          h('span', {class: 'dur'}, duration(millis)),
          h('div', {class: 'track'}, bar)),
        h('div', {class: 'node-detail'}, detail(s, isRoot)),
        (children.get(s.id) || []).map(node));
      function toggle() {
        if (open.has(s.id)) open.delete(s.id); else open.add(s.id);
        el.classList.toggle('open');
        el.firstChild.setAttribute('aria-expanded', open.has(s.id) ? 'true' : 'false');
      }
      return el;
    };
    const roots = children.get('') || [];
    // Calls whose parent is not listed still show, at the top level.
    const ids = new Set(stackRuns.map((s) => s.id));
    const orphans = stackRuns.filter((s) => s.parentId && !ids.has(s.parentId));
    return h('div', {class: 'tree'},
      h('div', {class: 'tree-head'}, h('span', {}, 'Call'), h('span', {}, 'Attempts'), h('span', {class: 'dur'}, 'Duration'),
        h('span', {}, 'Timeline')),
      roots.map(node), orphans.map(node));
  }

  function detail(s, isRoot) {
    const kv = [];
    const add = (k, v) => { if (v !== undefined && v !== null && v !== '') kv.push(h('span', {class: 'k'}, k), h('span', {class: 'mono'}, String(v))); };
    add('id', s.id);
    add('status', statusLabel(s.status));
    if (isRoot) {
      add('suspensions', s.suspension);
      add('waiting on', s.waiting ? s.waiting + ' call(s)' : '');
    } else {
      add('call', '#' + s.callIndex + (s.step !== undefined ? ' in step ' + s.step : ''));
      add('call id', s.callId);
    }
    add('created', s.createdAt);
    add('completed', s.completedAt);
    add('next attempt', s.nextAttemptAt);
    return [h('div', {class: 'kv'}, kv),
      !isRoot ? [h('h3', {}, 'Args'), jsonPre(s.args)] : null,
      s.error ? [h('h3', {}, 'Error'), errorBox(s.error)] :
        !isRoot && s.result !== undefined ? [h('h3', {}, 'Result'), jsonPre(s.result)] : null];
  }

  function logsView(run) {
    const logs = run.logs || [];
    if (!logs.length) return h('div', {class: 'empty'}, 'No log lines.');
    const start = ms(run.createdAt);
    return h('div', {class: 'logs'}, logs.map((l) => h('div', {class: 'line'},
      h('span', {class: 't', title: l.time}, '+' + duration(ms(l.time) - start)),
      h('span', {class: 'lvl ' + (l.level || 'log')}, l.level || 'log'),
      h('span', {class: 'msg'}, l.message))));
  }

  // ----------------------------------------------------------------- router

  function route() {
    generation++;
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path, query] = hash.split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const section = parts[0] || 'tasks';
    for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === section);
    document.title = (parts[1] || (section === 'runs' ? 'Runs' : 'Tasks')) + ' · Tasker';
    window.scrollTo(0, 0);
    if (section === 'tasks' && parts.length === 1 || parts.length === 0) return pageTasks();
    if (section === 'tasks' && parts.length === 2) return pageTask(parts[1]);
    if (section === 'runs' && parts.length === 1) return pageRuns(new URLSearchParams(query || ''));
    if (section === 'runs' && parts.length === 2) return pageRun(parts[1]);
    page(h('div', {class: 'panel empty'}, 'No such page. ', h('a', {href: '#/'}, 'Tasks')));
  }

  window.addEventListener('hashchange', route);
  route();
})();
