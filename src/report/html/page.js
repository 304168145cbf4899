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

// ---- formatting
function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }
function fmtBytes(b) {
  b = num(b);
  if (b === null) return '';
  if (b < 1024) return b + ' B';
  const u = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = b / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return v.toFixed(1) + ' ' + u[i];
}
function fmtMs(ms) {
  ms = num(ms);
  if (ms === null) return '';
  if (ms < 1000) return ms.toFixed(1) + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(3) + ' s';
  const s = Math.round(ms / 1000);
  return Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's';
}
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
  if (r.p) { r.gm = pct(r.m, r.p[0]); r.gd = pct(r.d, r.p[1]); r.gc = pct(r.c, r.p[2]); }
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
function numCol(key, label, fmt, title, metric, budgetKey, limitKey, runLimit) {
  return {
    key, label, num: true, title,
    sort: (r) => num(r[key]),
    cell: (r, td) => {
      td.textContent = fmt(r[key]);
      if (metric && r.ob.includes(metric)) { td.classList.add('over'); td.title = 'over its ' + metric + ' budget'; }
      if (budgetKey && num(r[budgetKey]) !== null) td.append(h('span', 'sub', 'budget ' + fmt(r[budgetKey])));
      if (limitKey && num(r[limitKey]) !== null && r[limitKey] !== runLimit) {
        td.append(h('span', 'sub', (limitKey === 'lt' ? 'timeout ' : 'limit ') + fmt(r[limitKey])));
      }
    },
  };
}
function deltaCol(key, label, baseIdx, now, fmt) {
  return {
    key, label, num: true,
    title: 'change against the baseline',
    sort: (r) => r[key],
    cell: (r, td) => {
      if (!r.p) { td.textContent = HAS_BASE && r.o !== 'not_run' ? 'new' : ''; td.className += ' muted'; return; }
      const g = r[key];
      td.textContent = fmtPct(g);
      if (num(r.p[baseIdx]) !== null) td.append(h('span', 'sub', 'was ' + fmt(r.p[baseIdx])));
      if (g !== null && g > 10) td.className += ' up';
      else if (g !== null && g < -10) td.className += ' down';
      td.title = fmt(r.p[baseIdx]) + ' \u2192 ' + fmt(r[now]);
    },
  };
}
const idCol = {
  key: 'i', label: 'test', cls: 'id', title: 'the test id; click a row for its output',
  sort: (r) => r.i,
  cell: (r, td) => {
    td.textContent = r.i;
    if (r.a !== undefined) td.append(' ', h('span', 'att', '#' + r.a));
  },
};
const outcomeCol = {
  key: 'o', label: 'outcome', title: 'how it ended',
  sort: (r) => (RANK[r.o] === undefined ? 99 : RANK[r.o]),
  cell: (r, td) => {
    td.append(pill(r.o));
    if (r.ob.length) td.append(' ', h('span', 'pill o-over', 'over ' + r.ob.join(', ')));
    if (Array.isArray(r.rg) && r.rg.length) {
      td.append(' ', h('span', 'pill o-over', 'regressed ' + r.rg.map((g) => g[0]).join(', ')));
    }
  },
};

// ---- the details of an expanded row
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
  add('outcome', words(r.o));
  add('why', r.r);
  add('panicked at', x.pl);
  add('exit code', x.ec);
  add('signal', x.sig);
  add('wall time', fmtMs(r.d));
  add('CPU', fmtMs(r.c));
  add('peak memory', fmtBytes(r.m));
  add('peak RSS', fmtBytes(x.rss));
  add('pids peak', x.pids);
  add('memory limit', fmtBytes(r.lm));
  add('timeout', fmtMs(r.lt));
  add('pids limit', x.lp);
  add('cpus', x.lc);
  const b = [];
  if (num(r.bm) !== null) b.push('memory ' + fmtBytes(r.bm));
  if (num(r.bt) !== null) b.push('time ' + fmtMs(r.bt));
  if (num(r.bc) !== null) b.push('cpu ' + fmtMs(r.bc));
  add('budgets', b.join(' \u00b7 '));
  add('over budget', r.ob.join(', '));
  if (Array.isArray(r.rg)) add('regressed', r.rg.map((g) => g[0] + ' ' + fmtPct(g[1])).join(', '));
  if (r.p) {
    add('baseline', 'memory ' + (fmtBytes(r.p[0]) || '?') + ' (' + (fmtPct(r.gm) || 'n/a') + '), time ' +
      (fmtMs(r.p[1]) || '?') + ' (' + (fmtPct(r.gd) || 'n/a') + '), cpu ' + (fmtMs(r.p[2]) || '?') +
      ' (' + (fmtPct(r.gc) || 'n/a') + ')');
  } else if (HAS_BASE && r.o !== 'not_run') {
    add('baseline', 'not in the baseline: a new test');
  }
  add('started at', x.st);
  box.append(dl);
  const out = (name, text, full, libtest) => {
    text = typeof text === 'string' ? text : '';
    let head = name;
    if (typeof full === 'number') {
      const shown = new TextEncoder().encode(text).length;
      head += shown ? ' \u2014 the last ' + fmtBytes(shown) + ' of ' + fmtBytes(full) : ' \u2014 ' + fmtBytes(full) + ' not shown';
    }
    if (libtest) head += " (libtest's progress lines left out)";
    if (!text && !libtest) return false;
    box.append(h('div', 'outhead', head));
    if (text) box.append(h('pre', null, text));
    return true;
  };
  const a = out('stderr', r.se, r.set, false);
  const c = out('stdout', r.so, r.sot, !!r.sl);
  if (!a && !c) box.append(h('p', 'muted', 'No output captured.'));
  return box;
}

// ---- the tests table and its controls
const cols = [idCol, outcomeCol,
  numCol('d', 'duration', fmtMs, 'wall time; below: its budget, and its timeout when not the run\'s', 'time', 'bt', 'lt', num(D.timeout_ms)),
  numCol('c', 'cpu', fmtMs, 'user + system CPU time; below: its budget', 'cpu', 'bc'),
  numCol('m', 'peak memory', fmtBytes, 'the sandbox\'s memory high-water mark; below: its budget, and its limit when not the run\'s', 'memory', 'bm', 'lm', num(D.memory_max))];
if (HAS_BASE) {
  cols.push(deltaCol('gm', '\u0394 memory', 0, 'm', fmtBytes));
  cols.push(deltaCol('gd', '\u0394 time', 1, 'd', fmtMs));
  cols.push(deltaCol('gc', '\u0394 cpu', 2, 'c', fmtMs));
}
cols.push({
  key: 'r', label: 'why', cls: 'reason', title: 'why it did not pass',
  sort: (r) => r.r || null,
  cell: (r, td) => { if (r.r) { td.textContent = r.r; td.title = r.r; } },
});

const present = [];
const counts = Object.create(null);
for (const r of T) { if (!(r.o in counts)) { counts[r.o] = 0; present.push(r.o); } counts[r.o]++; }
present.sort((a, b) => (RANK[a] === undefined ? 99 : RANK[a]) - (RANK[b] === undefined ? 99 : RANK[b]) || (a < b ? -1 : a > b ? 1 : 0));
const state = { terms: [], outcomes: new Set(present), flagged: false };
const pass = (r) => {
  if (!state.outcomes.has(r.o)) return false;
  if (state.flagged && !r.flag) return false;
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
  state.outcomes = new Set(what === null || what === 'over' ? present : [what]);
  for (const o of present) boxes[o].checked = state.outcomes.has(o);
  state.flagged = what === 'over';
  if (flaggedBox) flaggedBox.checked = state.flagged;
  if (what === null) { search.value = ''; state.terms = []; }
  grid.filter();
  document.getElementById('tests').scrollIntoView();
}
for (const b of document.querySelectorAll('#badges .badge')) {
  b.addEventListener('click', () => {
    const f = b.getAttribute('data-filter');
    if (f === 'all') showOnly(null);
    else if (f === 'over' || present.includes(f)) showOnly(f);
  });
}

const grid = new Grid(document.getElementById('grid'), T, cols, {
  pageSize: 200,
  pass,
  detail,
  rowClass: (r) => (r.flag ? 'over' : ''),
  onchange: () => { if (follow.checked) drawChartsSoon(); },
});

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
function barChart(hostId, title, key, budgetKey, fmt) {
  const host = document.getElementById(hostId);
  const box = h('div', 'chart');
  const head = h('div', 'chart-head');
  const sub = h('span', 'muted');
  const btn = h('button');
  btn.type = 'button';
  head.append(h('h3', null, title), sub, btn);
  const holder = h('div', 'chartbox');
  const keys = [['', 'passed', '#4c8bf5'], ['', 'did not pass', '#e0823d']];
  if (T.some((r) => num(r[budgetKey]) !== null || r.ob.includes(METRIC[key]))) {
    keys.push(['', 'over its budget', '#d1242f'], ['line', 'its budget']);
  }
  box.append(head, holder, legend(keys));
  host.append(box);
  let all = false;
  btn.addEventListener('click', () => { all = !all; draw(); });
  function draw() {
    const items = chartRows().filter((r) => num(r[key]) !== null);
    items.sort((a, b) => b[key] - a[key]);
    const total = items.length;
    const shown = all ? items : items.slice(0, TOP);
    btn.hidden = total <= TOP;
    btn.textContent = all ? 'show the top ' + TOP : 'show all ' + total;
    sub.textContent = total === 0 ? '' : shown.length < total ? 'the top ' + shown.length + ' of ' + total + ' tests' : total + ' tests';
    holder.replaceChildren(total ? bars(shown, key, budgetKey, fmt) : h('p', 'muted', 'Nothing measured.'));
  }
  return draw;
}
function bars(rows, key, bk, fmt) {
  const W = 1120, LW = 380, VW = 120, RH = 19, PAD = 4;
  const BW = W - LW - VW - 10;
  let max = 0;
  for (const r of rows) max = Math.max(max, r[key], num(r[bk]) || 0);
  if (!(max > 0)) max = 1;
  const H = rows.length * RH + 2 * PAD;
  const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H, class: 'bars', role: 'img' });
  svg.append(s('line', { x1: LW, x2: LW, y1: 0, y2: H, class: 'axis' }));
  rows.forEach((r, j) => {
    const y = PAD + j * RH;
    const v = r[key], b = num(r[bk]);
    const over = r.ob.includes(METRIC[key]) || (b !== null && v > b);
    const g = s('g', {});
    g.append(s('title', {}, r.i + ': ' + fmt(v) + (b !== null ? ' (budget ' + fmt(b) + ')' : '') + ', ' + words(r.o)));
    g.append(s('text', { x: LW - 8, y: y + RH - 6, 'text-anchor': 'end', class: 'lab' }, shorten(r.i, 54)));
    const w = Math.max(1, v / max * BW);
    g.append(s('rect', { x: LW, y: y + 3, width: w.toFixed(1), height: RH - 6, rx: 2, class: 'bar' + (over ? ' over' : r.o === 'passed' ? '' : ' bad') }));
    let vx = LW + w;
    if (b !== null) {
      const bx = LW + b / max * BW;
      g.append(s('line', { x1: bx.toFixed(1), x2: bx.toFixed(1), y1: y + 1, y2: y + RH - 1, class: 'budget' }));
      vx = Math.max(vx, bx);
    }
    g.append(s('text', { x: (vx + 6).toFixed(1), y: y + RH - 6 }, fmt(v)));
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
    const rows = chartRows().filter((r) => num(r.d) !== null);
    if (!rows.length) { sub.textContent = ''; holder.replaceChildren(h('p', 'muted', 'Nothing measured.')); return; }
    let lo = Infinity, hi = 0;
    for (const r of rows) { if (r.d > 0) lo = Math.min(lo, r.d); hi = Math.max(hi, r.d); }
    if (!isFinite(lo)) lo = 0.001;
    if (!(hi > 0)) hi = lo;
    const e = edges125(lo, hi);
    const nb = e.length - 1;
    const ok = new Array(nb).fill(0), bad = new Array(nb).fill(0);
    for (const r of rows) {
      let j = 0;
      while (j + 1 < nb && r.d >= e[j + 1]) j++;
      if (r.o === 'passed') ok[j]++; else bad[j]++;
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
      g.append(s('title', {}, fmtMs(e[j]) + ' to ' + fmtMs(e[j + 1]) + ': ' + n + ' tests (' + bad[j] + ' did not pass)'));
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
const drawMem = barChart('chart-mem', 'Peak memory per test', 'm', 'bm', fmtBytes);
const drawTime = barChart('chart-time', 'Time per test', 'd', 'bt', fmtMs);
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
  const was = (k, i, fmt) => ({ key: k, label: 'before', num: true, sort: (r) => num(r.p[i]), cell: (r, td) => { td.textContent = fmt(r.p[i]); } });
  const now = (k, fmt) => ({ key: k, label: 'now', num: true, sort: (r) => num(r[k]), cell: (r, td) => { td.textContent = fmt(r[k]); } });
  const d = (k, label) => ({
    key: k, label, num: true, sort: (r) => r[k],
    cell: (r, td) => {
      td.textContent = fmtPct(r[k]);
      if (r[k] !== null && r[k] > 10) td.className += ' up'; else if (r[k] !== null && r[k] < -10) td.className += ' down';
    },
  });
  const gcols = [idCol, outcomeCol,
    was('pm', 0, fmtBytes), now('m', fmtBytes), d('gm', '\u0394 memory'),
    was('pd', 1, fmtMs), now('d', fmtMs), d('gd', '\u0394 time'),
    was('pc', 2, fmtMs), now('c', fmtMs), d('gc', '\u0394 cpu')];
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
        const a = num(T[grid.visible[j - 1]][key]), b = num(T[grid.visible[j]][key]);
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
    let t0 = performance.now();
    th.click();
    ms.sort = performance.now() - t0;
    const d1 = grid.dir;
    let bad = sorted('m', d1);
    if (bad) fail('sorting by peak memory: ' + bad);
    if (th.getAttribute('aria-sort') !== (d1 > 0 ? 'ascending' : 'descending')) fail('aria-sort not set');
    const first = grid.tbody.querySelector('tr.row');
    if (first && T[grid.visible[0]].m !== undefined) {
      const cell = first.children[mi].firstChild.textContent;
      if (cell !== fmtBytes(T[grid.visible[0]].m)) fail('the first row shows ' + cell);
    }
    t0 = performance.now();
    th.click();
    ms.sort2 = performance.now() - t0;
    if (grid.dir !== -d1) fail('a second click did not reverse');
    bad = sorted('m', grid.dir);
    if (bad) fail('sorting by peak memory, reversed: ' + bad);
    // filter by the id of the first row
    if (T.length) {
      const term = T[grid.visible[0]].i.slice(-12).toLowerCase();
      t0 = performance.now();
      setText(term);
      ms.filter = performance.now() - t0;
      const want = T.filter((r) => r.lid.includes(term)).length;
      if (grid.visible.length !== want) fail('filter: ' + grid.visible.length + ' rows, want ' + want);
      if (grid.visible.some((i) => !T[i].lid.includes(term))) fail('filter let through a row that does not match');
      setText('');
      if (grid.visible.length !== T.length) fail('clearing the filter left ' + grid.visible.length + ' rows');
    }
    // an outcome checkbox
    const o = present[0];
    if (o) {
      t0 = performance.now();
      boxes[o].click();
      ms.outcome = performance.now() - t0;
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
    t0 = performance.now();
    drawCharts();
    ms.charts = performance.now() - t0;
    if (T.some((r) => num(r.m) !== null) && !document.querySelector('#chart-mem rect')) fail('no memory bars');
    if (T.some((r) => num(r.d) !== null) && !document.querySelector('#chart-hist rect')) fail('no histogram');
    if (HAS_BASE && T.some((r) => r.p) && !grew) fail('no what-grew table');
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
