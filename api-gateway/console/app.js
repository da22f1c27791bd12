// The pdfx console: uploads, the tenant's task list and one task's view, all
// through the public REST API. Progress comes from long polls of
// /extract/status/{id}?wait=N, a few at a time (a browser keeps about six
// connections to one host, and uploads and downloads need some).
'use strict';

(() => {
  const TEXT = window.PDFX_TEXT;
  const rest = window.PDFX_REST;
  const NAMES = 'pdfx.names'; // task id -> the file name this browser uploaded
  const LANG = 'pdfx.lang';
  const WAIT = 25; // seconds of one long poll
  const MAX_POLLS = 3;
  const $ = (id) => document.getElementById(id);

  let lang = localStorage.getItem(LANG) || pickLanguage();
  const tasks = new Map(); // task id -> the last status the gateway gave
  let order = []; // task ids, newest first
  let continueToken = null;
  const cancelled = new Set(); // cancelled from this page
  const polling = new Set();
  const lastPolled = new Map();
  let viewId = null;
  let authOk = true;

  function pickLanguage() {
    for (const tag of navigator.languages || [navigator.language || 'en']) {
      const primary = tag.toLowerCase().split('-')[0];
      if (primary === 'ko' || primary === 'en') return primary;
    }
    return 'en';
  }

  function t(key, ...args) {
    const text = (TEXT[lang] && TEXT[lang][key]) ?? TEXT.en[key] ?? key;
    return typeof text === 'function' ? text(...args) : text;
  }

  function names() {
    try { return JSON.parse(localStorage.getItem(NAMES) || '{}'); } catch { return {}; }
  }

  function rememberName(id, name) {
    const all = names();
    all[id] = name;
    const ids = Object.keys(all);
    for (const old of ids.slice(0, Math.max(0, ids.length - 500))) delete all[old];
    localStorage.setItem(NAMES, JSON.stringify(all));
  }

  // --- the API key ----------------------------------------------------------

  function needKey() {
    authOk = false;
    const had = rest.key() !== null;
    rest.forgetKey();
    $('auth').hidden = false;
    $('app').hidden = true;
    $('forget-key').hidden = true;
    $('auth-message').textContent = had ? t('keyRefused') : t('keyNeeded');
    $('auth-message').dataset.reason = had ? 'refused' : 'needed';
    $('api-key').focus();
  }

  async function useKey(event) {
    event.preventDefault();
    const key = $('api-key').value.trim();
    if (!key) return;
    rest.setKey(key);
    $('api-key').value = '';
    $('auth-message').textContent = t('keyChecking');
    $('auth-message').dataset.reason = 'checking';
    authOk = true;
    await loadList();
    if (authOk) {
      $('auth').hidden = true;
      $('app').hidden = false;
      $('forget-key').hidden = false;
      $('auth-message').textContent = '';
      route();
    }
  }

  // --- states and numbers -----------------------------------------------------

  const finished = (s) => s.status === 'completed' || s.status === 'failed' || s.status === 'gone';

  function stateOf(id, s) {
    if (s.status === 'failed' && (s.error_code === 'Cancelled' || cancelled.has(id))) return 'cancelled';
    return s.status;
  }

  function percent(s) {
    if (s.status === 'completed') return 100;
    if (s.pages_total) return Math.floor((100 * (s.pages_done || 0)) / s.pages_total);
    return s.progress || 0;
  }

  function age(iso) {
    const then = Date.parse(iso || '');
    if (Number.isNaN(then)) return '';
    const s = Math.max(0, Math.round((Date.now() - then) / 1000));
    if (s < 60) return t('seconds', s);
    if (s < 3600) return t('minutes', Math.floor(s / 60));
    if (s < 86400) return t('hours', Math.floor(s / 3600));
    return t('days', Math.floor(s / 86400));
  }

  function duration(from, to) {
    const ms = Date.parse(to || '') - Date.parse(from || '');
    if (Number.isNaN(ms)) return '–';
    const s = ms / 1000;
    return s < 60 ? t('seconds', s.toFixed(1)) : t('minutes', (s / 60).toFixed(1));
  }

  const number = (n) => new Intl.NumberFormat(lang).format(n);
  const displayName = (id) => tasks.get(id)?.file_name || names()[id] || id;

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'dataset') Object.assign(node.dataset, v);
      else if (k in node) node[k] = v;
      else node.setAttribute(k, v);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  // --- the task list ----------------------------------------------------------

  function listQuery(more) {
    const q = new URLSearchParams({ limit: '50' });
    if ($('filter').value) q.set('status', $('filter').value);
    if (more && continueToken) q.set('continue', continueToken);
    return q.toString();
  }

  async function loadList(more = false) {
    try {
      const body = await rest.list(listQuery(more));
      const ids = body.tasks.map((s) => s.task_id);
      for (const s of body.tasks) if (!cancelled.has(s.task_id)) tasks.set(s.task_id, s);
      // Tasks cancelled here stay listed (as cancelled) after the gateway forgets them.
      const kept = more ? order : order.filter((id) => cancelled.has(id) && !ids.includes(id));
      order = [...new Set([...(more ? kept : []), ...ids, ...(more ? [] : kept)])];
      order.sort((a, b) => Date.parse(tasks.get(b)?.created_at || 0) - Date.parse(tasks.get(a)?.created_at || 0));
      continueToken = body.continue || null;
      $('list-message').textContent = '';
    } catch (e) {
      if (e.status !== 401) $('list-message').textContent = e.message;
    }
    renderList();
    schedulePolls();
  }

  // Rows are made once per task and then updated in place, so a click or
  // the keyboard focus on a row is never lost to a long poll's answer.
  const rows = new Map();

  function rowOf(id) {
    let row = rows.get(id);
    if (!row) {
      const cell = (className) => el('td', { className });
      row = el('tr', { dataset: { taskId: id } },
        el('td', { className: 'file' }, el('a', { href: rest.taskHref(id) })),
        el('td', { className: 'st' }, el('span', { className: 'state' }), el('div', { className: 'error' })),
        el('td', { className: 'prog' }, el('progress', { max: 100 }), el('div')),
        cell('attempts'), cell('age'));
      rows.set(id, row);
    }
    return row;
  }

  function fillRow(id) {
    const s = tasks.get(id);
    const row = rowOf(id);
    const [file, st, prog, attempts, when] = row.cells;
    const state = stateOf(id, s);
    const pct = percent(s);
    const progressText = s.pages_total ? t('pagesOf', s.pages_done || 0, s.pages_total) : `${pct} %`;
    row.dataset.state = state;
    file.dataset.label = t('file');
    file.firstChild.textContent = displayName(id);
    st.dataset.label = t('state');
    st.firstChild.dataset.state = state;
    st.firstChild.textContent = t(`st_${state}`);
    st.lastChild.textContent = s.error_message && state !== 'cancelled' ? s.error_message : '';
    prog.dataset.label = t('progress');
    prog.firstChild.value = pct;
    prog.firstChild.setAttribute('aria-label', `${displayName(id)}: ${progressText}`);
    prog.lastChild.textContent = progressText;
    attempts.dataset.label = t('attempts');
    attempts.textContent = s.attempts ?? '–';
    when.dataset.label = t('age');
    when.textContent = age(s.created_at);
    when.title = s.created_at || '';
    return row;
  }

  function renderList() {
    const filter = $('filter').value;
    const shown = order.filter((id) => tasks.has(id) && (!filter || tasks.get(id).status === filter));
    const body = $('task-rows');
    shown.forEach((id, i) => {
      const row = fillRow(id);
      if (body.rows[i] !== row) body.insertBefore(row, body.rows[i] || null);
    });
    while (body.rows.length > shown.length) body.lastChild.remove();
    $('no-tasks').hidden = shown.length > 0;
    $('more').hidden = !continueToken;
  }

  // --- long polls -------------------------------------------------------------

  const needsPoll = (id) => tasks.has(id) && !finished(tasks.get(id)) && !cancelled.has(id);

  function schedulePolls() {
    if (!authOk) return;
    const wanted = order.filter(needsPoll).sort((a, b) => (lastPolled.get(a) || 0) - (lastPolled.get(b) || 0));
    if (viewId && needsPoll(viewId)) wanted.unshift(viewId);
    for (const id of wanted) {
      if (polling.size >= MAX_POLLS) break;
      if (!polling.has(id)) poll(id);
    }
  }

  async function poll(id) {
    polling.add(id);
    try {
      while (needsPoll(id) && authOk) {
        lastPolled.set(id, Date.now());
        const s = await rest.status(id, WAIT);
        if (cancelled.has(id)) break;
        update(id, s);
        // Give the slot to a task that waits for one.
        const waiting = order.some((o) => o !== id && needsPoll(o) && !polling.has(o));
        if (waiting && id !== viewId) break;
      }
    } catch (e) {
      if (e.status === 404) update(id, { ...tasks.get(id), status: 'gone' });
      else if (e.status !== 401) await new Promise((r) => setTimeout(r, 3000));
    } finally {
      polling.delete(id);
      schedulePolls();
    }
  }

  function update(id, s) {
    const before = tasks.get(id);
    if (before && s.error_code === 'Cancelled' && s.pages_total == null) {
      // The gateway's answer for a deleted task has no progress: keep how far it got.
      s = { ...s, pages_done: before.pages_done, pages_total: before.pages_total, attempts: s.attempts ?? before.attempts };
    }
    tasks.set(id, s);
    if (!order.includes(id)) order.unshift(id);
    renderList();
    if (id === viewId) renderTask();
  }

  // --- uploads ----------------------------------------------------------------

  function options() {
    const fields = {};
    for (const name of ['languages', 'pages', 'ocr_mode']) {
      const value = $(name).value.trim();
      if (value) fields[name] = value;
    }
    return fields;
  }

  async function uploadOne(file, fields) {
    const bar = el('progress', { max: 100, value: 0, 'aria-label': file.name });
    const pct = el('span', { textContent: '0 %' });
    const note = el('div', { className: 'note', textContent: t('uploading') });
    const item = el('li', { dataset: { file: file.name, progress: '0', state: 'uploading' } },
      el('span', { className: 'name' }, file.name, note), bar, pct);
    $('uploads').prepend(item);
    const shown = (p) => {
      bar.value = p;
      pct.textContent = `${p} %`;
      item.dataset.progress = String(p);
    };
    try {
      const body = await rest.submit(file, fields, shown);
      shown(100);
      Object.assign(item.dataset, { state: 'accepted', taskId: body.task_id });
      rememberName(body.task_id, file.name);
      note.replaceChildren(el('a', { href: rest.taskHref(body.task_id), textContent: t('accepted') }));
      update(body.task_id, { task_id: body.task_id, status: body.status, created_at: new Date().toISOString() });
      schedulePolls();
    } catch (e) {
      item.dataset.state = 'failed';
      note.className = 'note error';
      note.textContent = `${t('uploadFailed')}: ${e.message}`;
    }
  }

  async function upload(files) {
    const fields = options();
    for (const file of files) await uploadOne(file, fields); // one at a time: connections stay free
  }

  // --- one task ---------------------------------------------------------------

  async function showTask(id) {
    viewId = id;
    $('list-view').hidden = true;
    $('task-view').hidden = false;
    $('page-list').replaceChildren();
    $('task-view').dataset.pagesShown = '';
    if (!tasks.has(id)) {
      try {
        tasks.set(id, await rest.status(id));
      } catch (e) {
        tasks.set(id, { task_id: id, status: e.status === 404 ? 'gone' : 'pending' });
        $('task-error').textContent = e.status === 404 ? t('gone') : e.message;
      }
    }
    renderTask();
    schedulePolls();
    $('task-title').focus();
  }

  function renderTask() {
    const id = viewId;
    const s = tasks.get(id);
    if (!s) return;
    const state = stateOf(id, s);
    $('task-title').textContent = displayName(id);
    $('task-title').title = id;
    Object.assign($('task-state'), { textContent: t(`st_${state}`) });
    $('task-state').dataset.state = state;
    $('task-view').dataset.state = state;
    $('task-view').dataset.pagesDone = String(s.pages_done ?? '');
    $('task-message').textContent = s.message || '';
    const pct = percent(s);
    $('task-progress').value = pct;
    $('task-progress-text').textContent = s.pages_total ? `${t('pagesOf', s.pages_done || 0, s.pages_total)} (${pct} %)` : `${pct} %`;
    $('task-error').textContent = state === 'cancelled' ? t('cancelled') : state === 'gone' ? t('gone') : s.error_message || '';
    const done = s.status === 'completed';
    $('download-txt').hidden = !done;
    $('download-json').hidden = !done;
    $('cancel').hidden = finished(s) || cancelled.has(id);
    const r = s.result;
    $('summary').hidden = !r;
    if (r) {
      $('s-pages').textContent = number(r.pages);
      $('s-ocr').textContent = number(r.ocr_pages);
      $('s-text').textContent = number(r.text_layer_pages);
      $('s-chars').textContent = number(r.characters);
      $('s-conf').textContent = r.mean_confidence == null ? '–' : `${Math.round(r.mean_confidence * 100)} %`;
      $('s-time').textContent = duration(s.created_at, s.finished_at);
    }
    if (done && !$('task-view').dataset.pagesShown) showPages(id, r);
  }

  async function showPages(id, r) {
    $('task-view').dataset.pagesShown = 'loading';
    let pages = r && r.page_texts;
    if (!pages) {
      // Too large to come inline with the status: the full result.json.
      try {
        pages = (await (await rest.result(id, 'json')).json()).pages || [];
      } catch (e) {
        $('task-error').textContent = e.message;
        $('task-view').dataset.pagesShown = '';
        return;
      }
    }
    if (id !== viewId) return;
    $('page-list').replaceChildren(...pages.map((p) => {
      const how = [t(String(p.method).replace(/-/g, '_'))];
      if (p.confidence != null) how.push(t('confidence', Math.round(p.confidence * 100)));
      return el('li', { dataset: { page: p.page, method: p.method } },
        el('h3', { textContent: `${t('page', p.page)} · ${how.join(' · ')}` }),
        el('pre', { className: 'text', textContent: p.text }));
    }));
    $('task-view').dataset.pagesShown = 'yes';
  }

  async function download(format) {
    const id = viewId;
    try {
      const blob = await (await rest.result(id, format)).blob();
      const base = displayName(id).replace(/\.pdf$/i, '');
      const link = el('a', { href: URL.createObjectURL(blob), download: `${base}.${format === 'text' ? 'txt' : 'json'}` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    } catch (e) {
      $('task-error').textContent = e.message;
    }
  }

  async function cancelTask() {
    const id = viewId;
    $('cancel').disabled = true;
    try {
      await rest.cancel(id);
      cancelled.add(id);
      update(id, { ...tasks.get(id), status: 'failed', error_code: 'Cancelled' });
    } catch (e) {
      $('task-error').textContent = e.message;
    } finally {
      $('cancel').disabled = false;
    }
  }

  // --- wiring -----------------------------------------------------------------

  function route() {
    const m = location.hash.match(/^#\/task\/(.+)$/);
    if (m) { showTask(decodeURIComponent(m[1])); return; }
    viewId = null;
    $('task-view').hidden = true;
    $('list-view').hidden = false;
    renderList();
  }

  function applyLanguage() {
    document.documentElement.lang = lang;
    $('lang').value = lang;
    for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
    renderList();
    if (viewId) { $('task-view').dataset.pagesShown = ''; renderTask(); }
  }

  function start() {
    $('lang').addEventListener('change', () => { lang = $('lang').value; localStorage.setItem(LANG, lang); applyLanguage(); });
    $('auth-form').addEventListener('submit', useKey);
    $('forget-key').addEventListener('click', () => { rest.forgetKey(); needKey(); });
    $('upload-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const files = [...$('file').files];
      if (!files.length) { $('list-message').textContent = t('noFiles'); $('file').focus(); return; }
      $('file').value = '';
      upload(files);
    });
    const drop = $('drop');
    drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      const files = [...e.dataTransfer.files].filter((f) => f.type === 'application/pdf' || /\.pdf$/i.test(f.name));
      if (files.length) upload(files);
    });
    $('filter').addEventListener('change', () => loadList());
    $('more').addEventListener('click', () => loadList(true));
    $('download-txt').addEventListener('click', () => download('text'));
    $('download-json').addEventListener('click', () => download('json'));
    $('cancel').addEventListener('click', cancelTask);
    window.addEventListener('hashchange', route);
    Object.assign(rest.hooks, { language: () => lang, unauthorized: needKey, networkMessage: () => t('networkError') });
    $('forget-key').hidden = !rest.key();
    applyLanguage();
    // Ages tick without the network; new tasks from other clients show up on a slow refresh.
    setInterval(renderList, 30000);
    setInterval(() => { if (authOk && !document.hidden) loadList(); }, 30000);
    loadList().then(() => { if (authOk) route(); });
  }

  start();
})();
