// Live view of a Spindle tree (package actors/debug). Every string that
// comes from the tree is set with textContent or setAttribute, never as
// markup: names, hosts and errors are the word of the contexts.
'use strict';
(function () {
  const SVGNS = 'http://www.w3.org/2000/svg';
  const MAX_EVENTS = 200;
  const $ = (id) => document.getElementById(id);
  let interval = 1000;
  let lastSeq = 0;           // highest event seen
  const dead = new Map();    // context id -> down event: dead stays dead (IDs are never reused)
  let lastStates = new Map(); // context id -> state, to flash changed rows
  let pollTimer = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function cell(tr, text, cls, title) {
    const td = el('td', cls, text);
    if (title) td.setAttribute('title', String(title));
    tr.appendChild(td);
    return td;
  }
  function dur(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + m + 'm';
    if (m) return m + 'm ' + (s % 60) + 's';
    return s + 's';
  }
  function num(n) {
    n = Number(n) || 0;
    if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
    if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return String(n);
  }
  function bytes(n) {
    n = Number(n) || 0;
    if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + ' GiB';
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
    if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KiB';
    return n + ' B';
  }
  function rtt(us) {
    us = Number(us) || 0;
    if (!us) return '–';
    return us >= 1000 ? (us / 1000).toFixed(1) + ' ms' : us + ' µs';
  }
  function clock(t) {
    const d = new Date(t);
    return isNaN(d) ? '' : d.toLocaleTimeString();
  }
  // spark draws values (numbers only) as an SVG polyline.
  function spark(values) {
    const w = 80, h = 18;
    const svg = document.createElementNS(SVGNS, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    const vs = (values || []).map((v) => Number(v) || 0);
    if (vs.length > 1) {
      const hi = Math.max(...vs, 1);
      const pts = vs.map((v, i) => (i * (w - 2) / (vs.length - 1) + 1).toFixed(1) + ',' +
        (h - 2 - v / hi * (h - 4)).toFixed(1));
      const pl = document.createElementNS(SVGNS, 'polyline');
      pl.setAttribute('points', pts.join(' '));
      svg.appendChild(pl);
    }
    return svg;
  }
  function parentLink(row) {
    return (row.links || []).find((l) => l.parent) || null;
  }
  function sum(row, f) {
    return (row.links || []).reduce((a, l) => a + (Number(l[f]) || 0), 0);
  }

  function renderRow(row) {
    const down = dead.get(row.id);
    const state = down ? 'dead' : String(row.state || '');
    const tr = el('tr', state === 'dead' ? 'dead' : '');
    tr.dataset.id = String(row.id);
    tr.dataset.state = state;
    tr.dataset.restarts = String(Number(row.restarts) || 0);
    const prev = lastStates.get(row.id);
    if (prev !== undefined && prev !== state) tr.classList.add('changed');
    lastStates.set(row.id, state);
    const ctx = cell(tr, '', 'mono');
    const ind = el('span', 'indent');
    ind.style.width = (Math.min(Number(row.depth) || 0, 30) * 14) + 'px';
    ctx.appendChild(ind);
    ctx.appendChild(document.createTextNode((row.depth ? '└ ' : '') + row.id));
    cell(tr, row.name, 'name', row.name);
    cell(tr, row.method || (row.depth ? '' : 'root'), '');
    cell(tr, row.host, '', row.host);
    cell(tr, row.user, '', row.user);
    cell(tr, row.pid || '', 'num');
    cell(tr, String(row.incarnation || '').slice(0, 8), 'mono', row.incarnation);
    const why = down ? (down.reason || '') : (row.err || '');
    const st = cell(tr, '', 'state-cell', why);
    st.appendChild(el('span', 'state state-' + state.replace(/[^a-z]/g, ''), state));
    if (why) st.appendChild(el('span', 'sub', ' ' + why));
    cell(tr, dur(row.uptime_s), 'num');
    cell(tr, row.restarts || 0, 'num');
    const r = cell(tr, '', 'rtt-cell');
    if (row.depth) {
      r.appendChild(spark(row.rtt_history_us));
      r.appendChild(el('span', 'rtt', rtt(row.rtt_us) + ' (avg ' + rtt(row.srtt_us) + ')'));
    }
    const pl = parentLink(row);
    const fi = sum(row, 'frames_in'), fo = sum(row, 'frames_out');
    cell(tr, num(fi) + ' / ' + num(fo), 'num');
    cell(tr, bytes(sum(row, 'bytes_in')) + ' / ' + bytes(sum(row, 'bytes_out')), 'num');
    cell(tr, pl ? bytes(pl.queue_bytes) + ' / ' + bytes(pl.queue_high) : '–', 'num');
    cell(tr, num(sum(row, 'dead_in')) + ' / ' + num(sum(row, 'dead_out')), 'num');
    cell(tr, num(sum(row, 'dropped') + (Number(row.dropped) || 0)), 'num');
    return tr;
  }

  function render(snap) {
    if (!snap || !Array.isArray(snap.contexts)) return;
    interval = Math.max(100, Number(snap.interval_ms) || 1000);
    $('node').textContent = snap.node ? snap.node.name + ' (' + snap.node.id + ')' : '';
    const body = document.querySelector('#tree tbody');
    const rows = snap.contexts.map(renderRow);
    body.replaceChildren(...rows);
    let up = 0, nd = 0;
    for (const r of rows) {
      if (r.dataset.state === 'up') up++;
      if (r.dataset.state === 'dead') nd++;
    }
    $('counts').textContent = rows.length + ' contexts · ' + up + ' up · ' + nd + ' dead';
    $('sampled').textContent = 'sampled ' + clock(snap.time) + ' in ' + (Number(snap.took_ms) || 0).toFixed(1) + ' ms';
    const s = snap.stats || {};
    $('stats').textContent = 'streams ' + (s.clients || 0) + '/' + (s.max_clients || 0) + ' · dropped ' + (s.dropped || 0);
    const e = $('error');
    e.hidden = !snap.error;
    e.textContent = snap.error || '';
  }

  function markDead(ev) {
    dead.set(ev.id, ev);
    const tr = document.querySelector('#tree tbody tr[data-id="' + Number(ev.id) + '"]');
    if (!tr) return;
    tr.dataset.state = 'dead';
    tr.className = 'dead changed';
    lastStates.set(ev.id, 'dead');
    const st = tr.querySelector('td.state-cell');
    if (st) {
      st.replaceChildren(el('span', 'state state-dead', 'dead'), el('span', 'sub', ' ' + (ev.reason || '')));
      st.setAttribute('title', String(ev.reason || ''));
    }
  }

  function addEvents(list) {
    const ol = $('events');
    for (const ev of list || []) {
      if (!ev || !(ev.seq > lastSeq)) continue;
      lastSeq = ev.seq;
      if (ev.kind === 'down' || ev.kind === 'gone') markDead(ev);
      const li = el('li', 'k-' + String(ev.kind).replace(/[^a-z]/g, ''));
      li.dataset.kind = String(ev.kind);
      li.dataset.id = String(ev.id);
      li.appendChild(el('span', 't', clock(ev.time)));
      li.appendChild(el('span', 'k', ev.kind === 'down' ? 'IS_DEAD' : ev.kind));
      li.appendChild(el('span', 'who', ev.name + ' (' + ev.id + ')'));
      let what = '';
      if (ev.kind === 'state') what = ev.from + ' → ' + ev.to;
      else if (ev.kind === 'restart') what = 'restart ' + ev.restarts;
      else if (ev.kind === 'down') what = [ev.code, ev.cause, ev.reason].filter(Boolean).join(' · ');
      else if (ev.kind === 'gone') what = ev.reason || '';
      else what = ev.to || '';
      li.appendChild(el('span', 'why', what));
      ol.insertBefore(li, ol.firstChild);
    }
    while (ol.children.length > MAX_EVENTS) ol.removeChild(ol.lastChild);
  }

  function status(text, cls) {
    const c = $('conn');
    c.textContent = text;
    c.className = 'conn ' + cls;
  }

  function poll() {
    status('polling', 'polling');
    fetch('tree.json', { cache: 'no-store' })
      .then((r) => { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then((s) => { render(s); addEvents(s.events); status('polling', 'polling'); })
      .catch(() => status('unreachable', 'down'))
      .finally(() => { pollTimer = setTimeout(poll, interval); });
  }

  function stream() {
    if (!window.EventSource) { poll(); return; }
    const es = new EventSource('events');
    es.addEventListener('open', () => status('live', 'live'));
    es.addEventListener('tree', (m) => render(JSON.parse(m.data)));
    es.addEventListener('event', (m) => addEvents([JSON.parse(m.data)]));
    es.addEventListener('events', (m) => addEvents(JSON.parse(m.data)));
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) { // refused (too many streams): poll instead
        if (pollTimer === null) poll();
      } else {
        status('reconnecting', 'down');
      }
    });
  }

  stream();
})();
