(() => {
'use strict';
const body = document.body;
window.addEventListener('error', (e) => {
  body.setAttribute('data-jserror', String((e && e.message) || e));
});

const D = JSON.parse(document.getElementById('isolate-data').textContent);
const T = Array.isArray(D.tests) ? D.tests : [];
const HAS_BASE = !!D.baseline;
const TOP = 50;
const OUTCOMES = ['failed', 'timed_out', 'oom_killed', 'signaled', 'setup_error', 'passed', 'ignored', 'not_run'];
// Keyed by text from the report: no prototype to collide with.
const RANK = Object.create(null);
OUTCOMES.forEach((o, i) => { RANK[o] = i; });
const METRIC = { m: 'memory', d: 'time', c: 'cpu' };

// ---- figures: [number, text], the text written by cargo-isolate as the
// terminal writes it; the script formats only percentages and axis ticks.
function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }
function val(f) { return Array.isArray(f) ? num(f[0]) : null; }
function txt(f) { return Array.isArray(f) && typeof f[1] === 'string' ? f[1] : ''; }
function fmtPct(p) {
  p = num(p);
  if (p === null) return '';
  const a = Math.abs(p);
  return (p > 0 ? '+' : p < 0 ? '\u2212' : '\u00b1') + (a >= 100 ? a.toFixed(0) : a.toFixed(1)) + '%';
}
function fmtAxis(ms) {
  if (ms < 1000) return +ms.toPrecision(3) + 'ms';
  if (ms < 60000) return +(ms / 1000).toPrecision(3) + 's';
  return +(ms / 60000).toPrecision(3) + 'min';
}
function pct(now, was) {
  now = num(now); was = num(was);
  if (now === null || was === null || was <= 0) return null;
  return (now - was) / was * 100;
}
function words(o) { return String(o).replace(/_/g, ' '); }
function shorten(s, n) { return s.length <= n ? s : '\u2026' + s.slice(s.length - n + 1); }

// ---- DOM, only ever with textContent and attributes named here
function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
const SVGNS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function pill(o) {
  const p = h('span', 'pill o-' + (RANK[o] === undefined ? 'unknown' : o), words(o));
  return p;
}

// ---- derived fields
for (let n = 0; n < T.length; n++) {
  const r = T[n];
  r.i = String(r.i);
  r.o = String(r.o);
  r.lid = r.i.toLowerCase();
  r.ob = Array.isArray(r.ob) ? r.ob.map(String) : [];
  r.flag = r.ob.length > 0 || (Array.isArray(r.rg) && r.rg.length > 0);
  r.fl = r.fl === true;
  r.at = Array.isArray(r.at) ? r.at : [];
  // What the verdict says besides the outcome: [severity, why].
  r.v = Array.isArray(r.v) ? r.v.filter((x) => Array.isArray(x)).map((x) => [String(x[0]), String(x[1])]) : [];
  if (Array.isArray(r.p)) { r.gm = pct(val(r.m), val(r.p[0])); r.gd = pct(val(r.d), val(r.p[1])); r.gc = pct(val(r.c), val(r.p[2])); } else r.p = null;
}

// ---- a sortable, paged table
class Grid {
  constructor(host, rows, cols, opts) {
    this.rows = rows;
    this.cols = cols;
    this.ps = opts.pageSize || 200;
    this.page = 0;
    this.pass = opts.pass || null;
    this.detail = opts.detail || null;
    this.rowClass = opts.rowClass || null;
    this.onchange = opts.onchange || null;
    this.order = rows.map((_, i) => i);
    this.visible = this.order.slice();
    this.open = new Set();
    this.sortCol = -1;
    this.dir = 0;
    const wrap = h('div', 'tablewrap');
    const table = h('table', 'grid');
    const thead = h('thead');
    const tr = h('tr');
    this.ths = cols.map((c, ci) => {
      const th = h('th', (c.num ? 'num ' : '') + (c.cls || ''), c.label);
      th.setAttribute('data-key', c.key);
      th.tabIndex = 0;
      th.title = (c.title ? c.title + '. ' : '') + 'Click to sort.';
      th.addEventListener('click', () => this.clickSort(ci));
      th.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.clickSort(ci); }
      });
      tr.append(th);
      return th;
    });
    thead.append(tr);
    this.tbody = h('tbody');
    table.append(thead, this.tbody);
    wrap.append(table);
    this.pager = h('div', 'pager');
    this.prev = h('button', null, '\u2039 previous');
    this.next = h('button', null, 'next \u203a');
    this.prev.type = this.next.type = 'button';
    this.info = h('span', 'muted');
    this.prev.addEventListener('click', () => { this.page--; this.render(); });
    this.next.addEventListener('click', () => { this.page++; this.render(); });
    const size = h('select');
    for (const n of [50, 100, 200, 500, 1000]) {
      const o = h('option', null, n + ' rows a page');
      o.value = String(n);
      if (n === this.ps) o.selected = true;
      size.append(o);
    }
    size.addEventListener('change', () => { this.ps = +size.value; this.page = 0; this.render(); });
    this.pager.append(this.prev, this.next, this.info, size);
    host.append(wrap, this.pager);
    this.tbody.addEventListener('click', (e) => {
      if (!this.detail) return;
      const sel = window.getSelection && window.getSelection();
      if (sel && String(sel).length > 0) return;
      const t = e.target.closest('tr.row');
      if (!t) return;
      const i = +t.getAttribute('data-idx');
      if (this.open.has(i)) this.open.delete(i); else this.open.add(i);
      this.render();
    });
  }
  clickSort(ci) {
    const c = this.cols[ci];
    const dir = this.sortCol === ci ? -this.dir : (c.num ? -1 : 1);
    this.sort(ci, dir);
  }
  keys(ci) {
    const c = this.cols[ci];
    if (!c.keys) {
      c.keys = this.rows.map((r) => {
        const k = c.sort(r);
        if (k === undefined || k === null || (typeof k === 'number' && !isFinite(k))) return null;
        return k;
      });
    }
    return c.keys;
  }
  // Stable: rows that tie keep the order they had.
  sort(ci, dir) {
    const k = this.keys(ci);
    this.order.sort((a, b) => {
      const x = k[a], y = k[b];
      if (x === y) return 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return x < y ? -dir : dir;
    });
    this.sortCol = ci;
    this.dir = dir;
    this.ths.forEach((th, j) => {
      if (j === ci) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
    this.filter(false, false);
  }
  filter(resetPage, setChanged) {
    const p = this.pass, rows = this.rows;
    this.visible = p ? this.order.filter((i) => p(rows[i])) : this.order.slice();
    if (resetPage !== false) this.page = 0;
    this.render();
    if (setChanged !== false && this.onchange) this.onchange();
  }
  render() {
    const pages = Math.max(1, Math.ceil(this.visible.length / this.ps));
    if (this.page >= pages) this.page = pages - 1;
    if (this.page < 0) this.page = 0;
    const start = this.page * this.ps;
    const end = Math.min(this.visible.length, start + this.ps);
    const frag = document.createDocumentFragment();
    for (let j = start; j < end; j++) {
      const i = this.visible[j];
      const r = this.rows[i];
      const tr = h('tr', 'row');
      tr.setAttribute('data-idx', String(i));
      const rc = this.rowClass ? this.rowClass(r) : '';
      if (rc) tr.className += ' ' + rc;
      const open = this.detail && this.open.has(i);
      if (open) tr.className += ' open';
      for (const c of this.cols) {
        const td = h('td', (c.num ? 'num ' : '') + (c.cls || ''));
        c.cell(r, td);
        tr.append(td);
      }
      frag.append(tr);
      if (open) {
        const dtr = h('tr', 'detail');
        const td = h('td');
        td.colSpan = this.cols.length;
        td.append(this.detail(r));
        dtr.append(td);
        frag.append(dtr);
      }
    }
    if (end === start) {
      const tr = h('tr', 'empty');
      const td = h('td', null, this.rows.length ? 'No test matches the filter.' : 'No tests.');
      td.colSpan = this.cols.length;
      tr.append(td);
      frag.append(tr);
    }
    this.tbody.replaceChildren(frag);
    let info = this.visible.length ? (start + 1) + '\u2013' + end + ' of ' + this.visible.length : '0 tests';
    if (this.visible.length !== this.rows.length) info += ' (filtered from ' + this.rows.length + ')';
    this.info.textContent = info + ', page ' + (this.page + 1) + ' of ' + pages;
    this.prev.disabled = this.page === 0;
    this.next.disabled = end >= this.visible.length;
  }
}

// ---- cells
// A figure, with its budget and, when it is not the run's, its limit below.
function numCol(key, label, title, metric, budgetKey, limitKey, runLimit) {
  return {
    key, label, num: true, title,
    sort: (r) => val(r[key]),
    cell: (r, td) => {
      td.textContent = txt(r[key]);
      if (metric && r.ob.includes(metric)) { td.classList.add('over'); td.title = 'over its ' + metric + ' budget'; }
      if (budgetKey && val(r[budgetKey]) !== null) td.append(h('span', 'sub', 'budget ' + txt(r[budgetKey])));
      if (limitKey && val(r[limitKey]) !== null && val(r[limitKey]) !== runLimit) {
        td.append(h('span', 'sub', (limitKey === 'lt' ? 'timeout ' : 'limit ') + txt(r[limitKey])));
      }
    },
  };
}
function deltaCol(key, label, baseIdx, now) {
  return {
    key, label, num: true,
    title: 'change against the baseline',
    sort: (r) => r[key],
    cell: (r, td) => {
      if (!r.p) { td.textContent = HAS_BASE && r.o !== 'not_run' ? 'new' : ''; td.className += ' muted'; return; }
      const g = r[key];
      td.textContent = fmtPct(g);
      if (val(r.p[baseIdx]) !== null) td.append(h('span', 'sub', 'was ' + txt(r.p[baseIdx])));
      if (g !== null && g > 10) td.className += ' up';
      else if (g !== null && g < -10) td.className += ' down';
      td.title = txt(r.p[baseIdx]) + ' \u2192 ' + txt(r[now]);
    },
  };
}
const idCol = {
  key: 'i', label: 'test', cls: 'id', title: 'the test id; click a row for its output',
  sort: (r) => r.i,
  cell: (r, td) => {
    td.textContent = r.i;
    if (r.a !== undefined) {
      td.append(' ', h('span', 'att', 'attempt ' + r.a + (r.at.length ? ' of ' + r.at.length : '')));
    }
  },
};
const outcomeCol = {
  key: 'o', label: 'outcome', title: 'how it ended',
  sort: (r) => (RANK[r.o] === undefined ? 99 : RANK[r.o]),
  cell: (r, td) => {
    td.append(pill(r.o));
    if (r.fl) td.append(' ', h('span', 'pill o-flaky', 'flaky'));
    if (r.ob.length) td.append(' ', h('span', 'pill o-over', 'over ' + r.ob.join(', ')));
    if (Array.isArray(r.rg) && r.rg.length) {
      td.append(' ', h('span', 'pill o-over', 'regressed ' + r.rg.map((g) => g[0]).join(', ')));
    }
  },
};

// ---- the details of an expanded row
// A stream's tail {t: text, n: what was cut, l: libtest's lines left out}
// into `box`; whether there was anything to show.
function out(box, name, o) {
  if (!o) return false;
  const text = typeof o.t === 'string' ? o.t : '';
  let head = name;
  if (typeof o.n === 'string') head += ' \u2014 ' + o.n;
  if (o.l) head += " (libtest's progress lines left out)";
  if (!text && !o.l) return false;
  box.append(h('div', 'outhead', head));
  if (text) box.append(h('pre', null, text));
  return true;
}
// Each attempt of a retried test: how it ended, in how long, why, and the
// end of its output; the last attempt's is the row's own, which `where`
// says where to find.
function attempts(r, where) {
  const box = h('div', 'attempts');
  r.at.forEach((a, j) => {
    const one = h('div', 'attempt');
    one.setAttribute('data-attempt', String(a.n));
    const head = h('div', 'attempt-head');
    head.append(h('b', null, 'attempt ' + a.n + ' of ' + r.at.length), ' ', pill(String(a.o)));
    if (txt(a.d)) head.append(' ', h('span', 'muted', txt(a.d)));
    if (typeof a.st === 'string') head.append(' ', h('span', 'muted', 'started ' + a.st));
    one.append(head);
    if (typeof a.r === 'string') one.append(h('div', 'why', a.r));
    const shown = [out(one, 'stderr', a.se), out(one, 'stdout', a.so)].some(Boolean);
    if (!shown) {
      one.append(h('div', 'muted', j === r.at.length - 1 ? 'Its output is the test\'s own: ' + where + '.' : 'No output captured.'));
    }
    box.append(one);
  });
  return box;
}
// Where each thread of a test killed at its timeout was: one line per
// thread, its stack folded under it.
function hang(hg) {
  const box = h('div', 'hang');
  box.append(h('div', 'outhead', 'when killed \u2014 ' + String(hg.h)));
  for (const t of Array.isArray(hg.t) ? hg.t : []) {
    const one = h('div', 'hang-thread');
    const frames = Array.isArray(t.s) ? t.s : [];
    if (frames.length) {
      const fold = h('details');
      fold.append(h('summary', 'hang-line', t.l), h('pre', null, frames.join('\n')));
      one.append(fold);
    } else {
      one.append(h('div', 'hang-line', t.l));
    }
    box.append(one);
  }
  if (typeof hg.n === 'string') box.append(h('div', 'muted', hg.n));
  return box;
}
function detail(r) {
  const box = h('div', 'detail-box');
  const dl = h('dl', 'kv');
  const add = (k, v) => {
    if (v === undefined || v === null || v === '') return;
    dl.append(h('dt', null, k), h('dd', null, v));
  };
  const x = r.x || {};
  add('id', r.i);
  add('binary id', x.bid);
  add('kind', x.k);
  add('attempt', r.a);
  add('outcome', words(r.o) + (r.fl ? ', flaky' : ''));
  add('why', r.r);
  for (const [sev, why] of r.v) add(sev === 'failure' ? 'fails the run' : 'warning', why);
  add('panicked at', x.pl);
  add('exit code', x.ec);
  add('signal', x.sig);
  add('wall time', txt(r.d));
  add('CPU', txt(r.c));
  add('peak memory', txt(r.m));
  add('peak RSS', txt(x.rss));
  add('pids peak', x.pids);
  add('memory limit', txt(r.lm));
  add('timeout', txt(r.lt));
  add('pids limit', x.lp);
  add('cpus', x.lc);
  const b = [];
  if (val(r.bm) !== null) b.push('memory ' + txt(r.bm));
  if (val(r.bt) !== null) b.push('time ' + txt(r.bt));
  if (val(r.bc) !== null) b.push('cpu ' + txt(r.bc));
  add('budgets', b.join(' \u00b7 '));
  add('over budget', r.ob.join(', '));
  if (Array.isArray(r.rg)) add('regressed', r.rg.map((g) => g[0] + ' ' + fmtPct(g[1])).join(', '));
  if (r.p) {
    add('baseline', 'memory ' + (txt(r.p[0]) || '?') + ' (' + (fmtPct(r.gm) || 'n/a') + '), time ' +
      (txt(r.p[1]) || '?') + ' (' + (fmtPct(r.gd) || 'n/a') + '), cpu ' + (txt(r.p[2]) || '?') +
      ' (' + (fmtPct(r.gc) || 'n/a') + ')');
  } else if (HAS_BASE && r.o !== 'not_run') {
    add('baseline', 'not in the baseline: a new test');
  }
  add('started at', x.st);
  box.append(dl);
  if (r.at.length) box.append(attempts(r, 'below'));
  if (r.hg) box.append(hang(r.hg));
  const a = out(box, 'stderr', r.se);
  const c = out(box, 'stdout', r.so);
  if (!a && !c) box.append(h('p', 'muted', 'No output captured.'));
  return box;
}

// ---- the tests table and its controls
const cols = [idCol, outcomeCol,
  numCol('d', 'duration', 'wall time; below: its budget, and its timeout when not the run\'s', 'time', 'bt', 'lt', num(D.timeout_ms)),
  numCol('c', 'cpu', 'user + system CPU time; below: its budget', 'cpu', 'bc'),
  numCol('m', 'peak memory', 'the sandbox\'s memory high-water mark; below: its budget, and its limit when not the run\'s', 'memory', 'bm', 'lm', num(D.memory_max))];
if (HAS_BASE) {
  cols.push(deltaCol('gm', '\u0394 memory', 0, 'm'));
  cols.push(deltaCol('gd', '\u0394 time', 1, 'd'));
  cols.push(deltaCol('gc', '\u0394 cpu', 2, 'c'));
}
cols.push({
  key: 'r', label: 'why', cls: 'reason', title: 'why it did not pass',
  sort: (r) => r.r || (r.v.length ? r.v[0][1] : null),
  cell: (r, td) => {
    const why = r.r || (r.v.length ? r.v[0][1] : '');
    if (why) { td.textContent = why; td.title = why; }
  },
});

const present = [];
const counts = Object.create(null);
for (const r of T) { if (!(r.o in counts)) { counts[r.o] = 0; present.push(r.o); } counts[r.o]++; }
present.sort((a, b) => (RANK[a] === undefined ? 99 : RANK[a]) - (RANK[b] === undefined ? 99 : RANK[b]) || (a < b ? -1 : a > b ? 1 : 0));
const state = { terms: [], outcomes: new Set(present), flagged: false, flaky: false };
const pass = (r) => {
  if (!state.outcomes.has(r.o)) return false;
  if (state.flagged && !r.flag) return false;
  if (state.flaky && !r.fl) return false;
  for (const t of state.terms) if (!r.lid.includes(t)) return false;
  return true;
};

const controls = document.getElementById('controls');
const search = h('input');
search.type = 'search';
search.placeholder = 'filter by test id (words, all must match)';
search.setAttribute('aria-label', 'filter by test id');
controls.append(search);
const boxes = Object.create(null);
for (const o of present) {
  const l = h('label');
  const cb = h('input');
  cb.type = 'checkbox';
  cb.checked = true;
  cb.setAttribute('data-outcome', o);
  cb.addEventListener('change', () => {
    if (cb.checked) state.outcomes.add(o); else state.outcomes.delete(o);
    grid.filter();
  });
  boxes[o] = cb;
  l.append(cb, ' ', pill(o), ' ' + counts[o]);
  controls.append(l);
}
let flaggedBox = null;
if (T.some((r) => r.flag)) {
  const l = h('label');
  flaggedBox = h('input');
  flaggedBox.type = 'checkbox';
  flaggedBox.addEventListener('change', () => { state.flagged = flaggedBox.checked; grid.filter(); });
  l.append(flaggedBox, ' only over budget or regressed');
  controls.append(l);
}
const reset = h('button', null, 'show all');
reset.type = 'button';
reset.addEventListener('click', () => showOnly(null));
controls.append(reset);

function setText(v) {
  search.value = v;
  state.terms = v.toLowerCase().split(/\s+/).filter(Boolean);
  grid.filter();
}
let timer = 0;
search.addEventListener('input', () => {
  clearTimeout(timer);
  timer = setTimeout(() => setText(search.value), 120);
});
function showOnly(what) {
  state.outcomes = new Set(what === null || what === 'over' || what === 'flaky' ? present : [what]);
  for (const o of present) boxes[o].checked = state.outcomes.has(o);
  state.flagged = what === 'over';
  state.flaky = what === 'flaky';
  if (flaggedBox) flaggedBox.checked = state.flagged;
  if (what === null) { search.value = ''; state.terms = []; }
  grid.filter();
  document.getElementById('tests').scrollIntoView();
}
for (const b of document.querySelectorAll('#badges .badge')) {
  b.addEventListener('click', () => {
    const f = b.getAttribute('data-filter');
    if (f === 'all') showOnly(null);
    else if (f === 'over' || f === 'flaky' || present.includes(f)) showOnly(f);
  });
}

const grid = new Grid(document.getElementById('grid'), T, cols, {
  pageSize: 200,
  pass,
  detail,
  rowClass: (r) => (r.flag ? 'over' : r.fl ? 'flaky' : ''),
  onchange: () => { if (follow.checked) drawChartsSoon(); },
});

// ---- the flaky tests, each with its attempts
const FLAKY = T.filter((r) => r.fl);
const flakyHost = document.getElementById('flaky-list');
if (flakyHost) {
  for (const r of FLAKY) {
    const one = h('div', 'flaky-test');
    one.append(h('h3', 'mono', r.i), attempts(r, 'open its row in the table'));
    flakyHost.append(one);
  }
}

// ---- charts
const follow = document.getElementById('chart-follow');
follow.addEventListener('change', () => drawCharts());
function chartRows() {
  if (!follow.checked) return T;
  return grid.visible.map((i) => T[i]);
}
function legend(items) {
  const l = h('div', 'legend');
  for (const [cls, text, color] of items) {
    const s = h('span');
    const i = h('i', cls);
    if (color) i.style.setProperty('--c', color);
    s.append(i, text);
    l.append(s);
  }
  return l;
}
function barChart(hostId, title, key, budgetKey) {
  const host = document.getElementById(hostId);
  const box = h('div', 'chart');
  const head = h('div', 'chart-head');
  const sub = h('span', 'muted');
  const btn = h('button');
  btn.type = 'button';
  head.append(h('h3', null, title), sub, btn);
  const holder = h('div', 'chartbox');
  const keys = [['', 'passed', '#4c8bf5'], ['', 'did not pass', '#e0823d']];
  if (T.some((r) => val(r[budgetKey]) !== null || r.ob.includes(METRIC[key]))) {
    keys.push(['', 'over its budget', '#d1242f'], ['line', 'its budget']);
  }
  box.append(head, holder, legend(keys));
  host.append(box);
  let all = false;
  btn.addEventListener('click', () => { all = !all; draw(); });
  function draw() {
    const items = chartRows().filter((r) => val(r[key]) !== null);
    items.sort((a, b) => val(b[key]) - val(a[key]));
    const total = items.length;
    const shown = all ? items : items.slice(0, TOP);
    btn.hidden = total <= TOP;
    btn.textContent = all ? 'show the top ' + TOP : 'show all ' + total;
    sub.textContent = total === 0 ? '' : shown.length < total ? 'the top ' + shown.length + ' of ' + total + ' tests' : total + ' tests';
    holder.replaceChildren(total ? bars(shown, key, budgetKey) : h('p', 'muted', 'Nothing measured.'));
  }
  return draw;
}
function bars(rows, key, bk) {
  const W = 1120, LW = 380, VW = 120, RH = 19, PAD = 4;
  const BW = W - LW - VW - 10;
  let max = 0;
  for (const r of rows) max = Math.max(max, val(r[key]), val(r[bk]) || 0);
  if (!(max > 0)) max = 1;
  const H = rows.length * RH + 2 * PAD;
  const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'bars', role: 'img' });
  svg.append(s('line', { x1: LW, x2: LW, y1: 0, y2: H, class: 'axis' }));
  rows.forEach((r, j) => {
    const y = PAD + j * RH;
    const v = val(r[key]), b = val(r[bk]);
    const over = r.ob.includes(METRIC[key]) || (b !== null && v > b);
    const g = s('g', {});
    g.append(s('title', {}, r.i + ': ' + txt(r[key]) + (b !== null ? ' (budget ' + txt(r[bk]) + ')' : '') + ', ' + words(r.o)));
    g.append(s('text', { x: LW - 8, y: y + RH - 6, 'text-anchor': 'end', class: 'lab' }, shorten(r.i, 54)));
    const w = Math.max(1, v / max * BW);
    g.append(s('rect', { x: LW, y: y + 3, width: w.toFixed(1), height: RH - 6, rx: 2, class: 'bar' + (over ? ' over' : r.o === 'passed' ? '' : ' bad') }));
    let vx = LW + w;
    if (b !== null) {
      const bx = LW + b / max * BW;
      g.append(s('line', { x1: bx.toFixed(1), x2: bx.toFixed(1), y1: y + 1, y2: y + RH - 1, class: 'budget' }));
      vx = Math.max(vx, bx);
    }
    g.append(s('text', { x: (vx + 6).toFixed(1), y: y + RH - 6 }, txt(r[key])));
    svg.append(g);
  });
  return svg;
}
function edges125(lo, hi) {
  const list = [];
  for (let d = Math.floor(Math.log10(lo)) - 1; ; d++) {
    for (const f of [1, 2, 5]) list.push(f * Math.pow(10, d));
    if (Math.pow(10, d) > hi) break;
  }
  let a = 0;
  while (a + 1 < list.length && list[a + 1] <= lo) a++;
  let b = list.length - 1;
  while (b - 1 > a && list[b - 1] > hi) b--;
  return list.slice(a, b + 1);
}
function histogram() {
  const host = document.getElementById('chart-hist');
  const box = h('div', 'chart');
  const head = h('div', 'chart-head');
  const sub = h('span', 'muted');
  head.append(h('h3', null, 'Durations'), sub);
  const holder = h('div', 'chartbox');
  box.append(head, holder, legend([['', 'passed', '#4c8bf5'], ['', 'did not pass', '#e0823d']]));
  host.append(box);
  return () => {
    // [duration, passed] of each test measured.
    const rows = chartRows().map((r) => [val(r.d), r.o === 'passed']).filter((x) => x[0] !== null);
    if (!rows.length) { sub.textContent = ''; holder.replaceChildren(h('p', 'muted', 'Nothing measured.')); return; }
    let lo = Infinity, hi = 0;
    for (const [d] of rows) { if (d > 0) lo = Math.min(lo, d); hi = Math.max(hi, d); }
    if (!isFinite(lo)) lo = 0.001;
    if (!(hi > 0)) hi = lo;
    const e = edges125(lo, hi);
    const nb = e.length - 1;
    const ok = new Array(nb).fill(0), bad = new Array(nb).fill(0);
    for (const [d, passed] of rows) {
      let j = 0;
      while (j + 1 < nb && d >= e[j + 1]) j++;
      if (passed) ok[j]++; else bad[j]++;
    }
    let top = 1;
    for (let j = 0; j < nb; j++) top = Math.max(top, ok[j] + bad[j]);
    sub.textContent = rows.length + ' tests, on a logarithmic scale of time';
    const W = 1120, H = 250, L = 40, B = 40, TP = 18;
    const bw = Math.min(90, (W - L - 10) / nb), ph = H - B - TP;
    const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'hist', role: 'img' });
    svg.append(s('line', { x1: L, x2: L + nb * bw, y1: H - B, y2: H - B, class: 'axis' }));
    for (let j = 0; j < nb; j++) {
      const x = L + j * bw;
      const n = ok[j] + bad[j];
      const g = s('g', {});
      g.append(s('title', {}, fmtAxis(e[j]) + ' to ' + fmtAxis(e[j + 1]) + ': ' + n + ' tests (' + bad[j] + ' did not pass)'));
      const hOk = ok[j] / top * ph, hBad = bad[j] / top * ph;
      g.append(s('rect', { x: (x + 2).toFixed(1), y: (H - B - hOk).toFixed(1), width: Math.max(1, bw - 4).toFixed(1), height: hOk.toFixed(1), class: 'hbar' }));
      g.append(s('rect', { x: (x + 2).toFixed(1), y: (H - B - hOk - hBad).toFixed(1), width: Math.max(1, bw - 4).toFixed(1), height: hBad.toFixed(1), class: 'hbar bad' }));
      if (n) g.append(s('text', { x: (x + bw / 2).toFixed(1), y: (H - B - hOk - hBad - 4).toFixed(1), 'text-anchor': 'middle', class: 'small' }, n));
      g.append(s('text', { x: x.toFixed(1), y: H - B + 14, 'text-anchor': 'middle', class: 'small' }, fmtAxis(e[j])));
      svg.append(g);
    }
    svg.append(s('text', { x: (L + nb * bw).toFixed(1), y: H - B + 14, 'text-anchor': 'middle', class: 'small' }, fmtAxis(e[nb])));
    svg.append(s('text', { x: L, y: H - 6, class: 'small' }, 'wall time per test \u2192'));
    holder.replaceChildren(svg);
  };
}
const drawMem = barChart('chart-mem', 'Peak memory per test', 'm', 'bm');
const drawTime = barChart('chart-time', 'Time per test', 'd', 'bt');
const drawHist = histogram();
function drawCharts() { clearTimeout(chartTimer); drawMem(); drawTime(); drawHist(); }
// After the table is on the screen: a filter answers at once.
let chartTimer = 0;
function drawChartsSoon() { clearTimeout(chartTimer); chartTimer = setTimeout(drawCharts, 30); }

// ---- what grew against the baseline
let grew = null;
const grewHost = document.getElementById('grew');
if (HAS_BASE && grewHost) {
  const both = T.filter((r) => r.p);
  const was = (k, i) => ({ key: k, label: 'before', num: true, sort: (r) => val(r.p[i]), cell: (r, td) => { td.textContent = txt(r.p[i]); } });
  const now = (k) => ({ key: k, label: 'now', num: true, sort: (r) => val(r[k]), cell: (r, td) => { td.textContent = txt(r[k]); } });
  const d = (k, label) => ({
    key: k, label, num: true, sort: (r) => r[k],
    cell: (r, td) => {
      td.textContent = fmtPct(r[k]);
      if (r[k] !== null && r[k] > 10) td.className += ' up'; else if (r[k] !== null && r[k] < -10) td.className += ' down';
    },
  });
  const gcols = [idCol, outcomeCol,
    was('pm', 0), now('m'), d('gm', '\u0394 memory'),
    was('pd', 1), now('d'), d('gd', '\u0394 time'),
    was('pc', 2), now('c'), d('gc', '\u0394 cpu')];
  const note = h('p', 'muted', both.length + ' tests are in both runs. Sorted by the growth of peak memory; click a header to sort by another.');
  grewHost.append(note);
  if (both.length) {
    grew = new Grid(grewHost, both, gcols, { pageSize: 50, detail });
    grew.sort(gcols.findIndex((c) => c.key === 'gm'), -1);
  }
}

// ---- first draw: the tests that did not pass first, then in report order
grid.sort(1, 1);
drawCharts();
body.setAttribute('data-rendered', 'ok');

// ---- #selftest: check the page and write the verdict into <body>
function selftest() {
  const errs = [];
  const ms = {};
  const fail = (m) => errs.push(m);
  try {
    if (document.querySelectorAll('script').length !== 2) fail(document.querySelectorAll('script').length + ' script elements');
    if (document.querySelectorAll('img,iframe,object,embed,link,style:not(head style)').length) fail('an element from the data');
    for (const e of document.querySelectorAll('*')) {
      for (const a of e.attributes) if (/^on/i.test(a.name)) fail('an event handler attribute ' + a.name);
    }
    const pageRows = () => Array.from(grid.tbody.querySelectorAll('tr.row')).map((t) => +t.getAttribute('data-idx'));
    const sorted = (key, dir) => {
      let seenNull = false;
      for (let j = 1; j < grid.visible.length; j++) {
        const a = val(T[grid.visible[j - 1]][key]), b = val(T[grid.visible[j]][key]);
        if (a === null) seenNull = true;
        if (seenNull && b !== null) return 'a measured test after an unmeasured one at ' + j;
        if (a !== null && b !== null && (b - a) * dir < 0) return 'out of order at ' + j;
      }
      const want = grid.visible.slice(grid.page * grid.ps, grid.page * grid.ps + grid.ps);
      const got = pageRows();
      if (got.length !== want.length || got.some((v, j) => v !== want[j])) return 'the page shows other rows than the order';
      return null;
    };
    const mi = grid.cols.findIndex((c) => c.key === 'm');
    const th = grid.ths[mi];
    th.click();
    const d1 = grid.dir;
    let bad = sorted('m', d1);
    if (bad) fail('sorting by peak memory: ' + bad);
    if (th.getAttribute('aria-sort') !== (d1 > 0 ? 'ascending' : 'descending')) fail('aria-sort not set');
    const first = grid.tbody.querySelector('tr.row');
    if (first && T[grid.visible[0]].m !== undefined) {
      const cell = first.children[mi].firstChild.textContent;
      if (cell !== txt(T[grid.visible[0]].m)) fail('the first row shows ' + cell);
    }
    th.click();
    if (grid.dir !== -d1) fail('a second click did not reverse');
    bad = sorted('m', grid.dir);
    if (bad) fail('sorting by peak memory, reversed: ' + bad);
    // filter by the id of the first row
    const term = T.length ? T[grid.visible[0]].i.slice(-12).toLowerCase() : '';
    if (T.length) {
      setText(term);
      const want = T.filter((r) => r.lid.includes(term)).length;
      if (grid.visible.length !== want) fail('filter: ' + grid.visible.length + ' rows, want ' + want);
      if (grid.visible.some((i) => !T[i].lid.includes(term))) fail('filter let through a row that does not match');
      setText('');
      if (grid.visible.length !== T.length) fail('clearing the filter left ' + grid.visible.length + ' rows');
    }
    // an outcome checkbox
    const o = present[0];
    if (o) {
      boxes[o].click();
      if (grid.visible.some((i) => T[i].o === o)) fail('unchecking ' + o + ' kept its rows');
      boxes[o].click();
      if (grid.visible.length !== T.length) fail('checking ' + o + ' again did not bring its rows back');
    }
    // expand and collapse the first row
    const row = grid.tbody.querySelector('tr.row');
    if (row) {
      row.click();
      const d = grid.tbody.querySelector('tr.detail');
      if (!d || !d.querySelector('dl.kv')) fail('a clicked row did not expand');
      grid.tbody.querySelector('tr.row').click();
      if (grid.tbody.querySelector('tr.detail')) fail('a clicked row did not collapse');
    }
    // A hung test's details show each of its threads, as text.
    let hungLines = 0;
    for (const r of T.filter((t) => t.hg)) {
      const lines = Array.from(detail(r).querySelectorAll('.hang-thread .hang-line'));
      if (lines.length !== r.hg.t.length) fail(r.i + ': ' + lines.length + ' thread lines, want ' + r.hg.t.length);
      lines.forEach((l, j) => {
        if (l.textContent !== r.hg.t[j].l || l.children.length) fail(r.i + ': thread line ' + j + ' is not its text');
      });
      hungLines += lines.length;
    }
    body.setAttribute('data-selftest-hang', String(hungLines));
    drawCharts();
    if (T.some((r) => val(r.m) !== null) && !document.querySelector('#chart-mem rect')) fail('no memory bars');
    if (T.some((r) => val(r.d) !== null) && !document.querySelector('#chart-hist rect')) fail('no histogram');
    if (HAS_BASE && T.some((r) => r.p) && !grew) fail('no what-grew table');
    // Each flaky test is listed with each of its attempts, and its row
    // expands to them.
    if (FLAKY.length) {
      const listed = flakyHost ? flakyHost.querySelectorAll('.flaky-test') : [];
      if (listed.length !== FLAKY.length) fail(listed.length + ' flaky tests listed, want ' + FLAKY.length);
      FLAKY.forEach((r, j) => {
        const n = listed[j] ? listed[j].querySelectorAll('.attempt').length : 0;
        if (n !== r.at.length) fail(r.i + ': ' + n + ' attempts listed, want ' + r.at.length);
      });
      showOnly('flaky');
      if (grid.visible.length !== FLAKY.length) fail('the flaky filter shows ' + grid.visible.length + ' rows');
      const frow = grid.tbody.querySelector('tr.row');
      if (frow) {
        frow.click();
        const d = grid.tbody.querySelector('tr.detail');
        if (!d || d.querySelectorAll('.attempt').length !== T[grid.visible[0]].at.length) fail('a flaky row does not expand to its attempts');
        grid.tbody.querySelector('tr.row').click();
      }
      showOnly(null);
    }
    // What each takes: the best of three runs, so that a pause of a busy
    // machine is not counted as the page's. `undo` runs untimed after each.
    const best = (f, undo) => {
      let least = Infinity;
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        f();
        least = Math.min(least, performance.now() - t0);
        if (undo) undo();
      }
      return least;
    };
    // The first sort by a column works out its keys; later ones reuse them.
    ms.sort = best(() => { grid.cols[mi].keys = null; th.click(); });
    ms.sort2 = best(() => th.click());
    if (T.length) ms.filter = best(() => setText(term), () => setText(''));
    if (o) ms.outcome = best(() => boxes[o].click(), () => boxes[o].click());
    ms.charts = best(drawCharts);
    // leave it sorted by peak memory, largest first
    if (grid.dir !== -1) th.click();
  } catch (e) {
    fail('exception: ' + (e && e.message));
  }
  body.setAttribute('data-selftest-ms', JSON.stringify(ms));
  body.setAttribute('data-selftest', errs.length ? 'fail: ' + errs.join('; ') : 'ok');
}
if (location.hash === '#selftest') selftest();
})();
