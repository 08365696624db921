// The dashboard page's script: follows /api/events (Server-Sent Events) and redraws the page from each snapshot.
// Everything shown is written with textContent: reasons and payloads come from untrusted agents.

const $ = (selector, root = document) => root.querySelector(selector);

/** A number for a table cell: integers as they are, fractions to 1 decimal, nothing as a dash. */
const fmt = (n) => (n === null || n === undefined ? '—' : Number.isInteger(n) ? String(n) : n.toFixed(1));
const ms = (n) => (n === null || n === undefined ? '—' : n < 1 ? `${(n * 1000).toFixed(0)} µs` : `${n.toFixed(1)} ms`);
const time = (epochMs) => new Date(epochMs).toLocaleTimeString();

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function field(root, name, text) {
  const el = $(`[data-field="${name}"]`, root);
  if (el) el.textContent = text;
}

function renderHost(snapshot) {
  const host = $('#host');
  const h = snapshot.host;
  field(host, 'workers', fmt(h.workers));
  field(host, 'workerRestarts', fmt(h.workerRestarts));
  field(host, 'eventLoopDelay', ms(h.eventLoopDelayP99Ms));
  field(
    host,
    'eventLoopUtilization',
    h.eventLoopUtilization === null ? '—' : `${(h.eventLoopUtilization * 100).toFixed(0)}%`,
  );
  field(host, 'uptime', `${Math.round(snapshot.uptimeSeconds)} s`);
  $('#window').textContent = `rates and percentiles over the last ${fmt(snapshot.windowSeconds)} s`;
}

/** The last minute of runs/s per agent (one point per snapshot), kept by the page for the trend column. */
const history = new Map();
const HISTORY_POINTS = 60;
const SVG = 'http://www.w3.org/2000/svg';

function trend(name, runsPerSecond) {
  const points = history.get(name) ?? [];
  points.push(runsPerSecond);
  if (points.length > HISTORY_POINTS) points.shift();
  history.set(name, points);
  const [w, h] = [120, 24];
  const top = Math.max(1, ...points);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('width', String(w));
  svg.setAttribute('height', String(h));
  svg.setAttribute('aria-label', `runs/s over the last ${points.length} updates, at most ${fmt(top)}`);
  const line = document.createElementNS(SVG, 'polyline');
  const step = w / (HISTORY_POINTS - 1);
  const start = w - step * (points.length - 1);
  line.setAttribute('points', points.map((v, i) => `${start + i * step},${h - 1 - (v / top) * (h - 2)}`).join(' '));
  line.setAttribute('class', 'trend');
  svg.append(line);
  return svg;
}

function renderAgents(snapshot) {
  const rows = snapshot.agents.map((a) => {
    const tr = document.createElement('tr');
    tr.dataset.agent = a.name;
    tr.dataset.state = a.state;
    const total = Object.values(a.runs).reduce((x, y) => x + y, 0);
    const byStatus = Object.entries(a.runs)
      .map(([status, n]) => `${n} ${status}`)
      .join(' · ');
    const state = document.createElement('span');
    state.className = `state state-${a.state}`;
    state.textContent = a.state;
    const stateCell = cell('');
    stateCell.dataset.field = 'state';
    stateCell.append(state);
    const trendCell = cell('');
    trendCell.append(trend(a.name, a.runsPerSecond));
    const cells = [
      ['name', cell(a.name)],
      ['state', stateCell],
      ['runsPerSecond', cell(fmt(a.runsPerSecond), 'num')],
      ['trend', trendCell],
      ['failedPerSecond', cell(fmt(a.failedPerSecond), 'num')],
      ['runs', cell(String(total), 'num')],
      ['byStatus', cell(byStatus || '—')],
      ['acked', cell(String(a.acked), 'num')],
      ['retried', cell(String(a.retried), 'num')],
      ['deadLettered', cell(String(a.deadLettered), 'num')],
      ['parked', cell(String(a.parked), 'num')],
      ['inFlight', cell(String(a.inFlight), 'num')],
      ['latency', cell(a.latencyMs ? `${ms(a.latencyMs.p50)} / ${ms(a.latencyMs.p90)} / ${ms(a.latencyMs.p99)}` : '—')],
      ['wait', cell(a.waitMs ? `${ms(a.waitMs.p50)} / ${ms(a.waitMs.p99)}` : '—')],
      ['lag', cell(a.lag.length ? a.lag.map((l) => `${l.pattern}: ${l.messages}`).join(', ') : '—')],
      ['keys', cell(a.keys === undefined ? '—' : String(a.keys), 'num')],
    ];
    for (const [name, td] of cells) {
      td.dataset.field = name;
      tr.append(td);
    }
    return tr;
  });
  $('#agents tbody').replaceChildren(...rows);
}

function renderQuarantines(snapshot) {
  const items = snapshot.quarantines.map((q) => {
    const li = document.createElement('li');
    li.dataset.agent = q.agent;
    const left = Math.max(0, Math.round((q.until - snapshot.at) / 1000));
    li.textContent = `${q.agent}: quarantined after ${q.failures} failures in ${q.window / 1000} s; released at ${time(q.until)} (in ${left} s)`;
    return li;
  });
  $('#quarantines').replaceChildren(...items);
  $('#no-quarantines').hidden = items.length > 0;
}

function renderResidency(snapshot) {
  const r = snapshot.residency;
  const cards = $('#residency');
  $('#no-residency').hidden = r !== null;
  cards.hidden = r === null;
  if (r === null) return;
  for (const name of ['resident', 'hibernated', 'wakes', 'hibernations', 'checkpoints', 'storeErrors'])
    field(cards, name, fmt(r[name]));
}

function renderDeadLetters(snapshot) {
  const d = snapshot.deadLetters;
  $('#dead-letter-total').textContent =
    d.total === 0 ? 'none seen since the dashboard started' : `${d.total} seen, the last ${d.recent.length} shown`;
  const rows = d.recent.map((x) => {
    const tr = document.createElement('tr');
    if (x.agent !== null) tr.dataset.agent = x.agent;
    const cells = [
      ['seen', cell(time(x.at))],
      ['agent', cell(x.agent ?? '—')],
      ['topic', cell(x.topic ?? '—')],
      ['deliveryCount', cell(fmt(x.deliveryCount), 'num')],
      ['reason', cell(x.reason, 'reason')],
      ['key', cell(x.key ?? '—')],
      ['payload', cell(x.payload, 'payload')],
    ];
    for (const [name, td] of cells) {
      td.dataset.field = name;
      tr.append(td);
    }
    return tr;
  });
  $('#dead-letters tbody').replaceChildren(...rows);
}

function connection(state, text) {
  const el = $('#connection');
  el.dataset.state = state;
  el.textContent = text;
}

function render(snapshot) {
  renderHost(snapshot);
  renderAgents(snapshot);
  renderQuarantines(snapshot);
  renderResidency(snapshot);
  renderDeadLetters(snapshot);
  $('#updated').textContent = `updated ${time(snapshot.at)}`;
  document.body.dataset.updated = String(snapshot.at);
}

// EventSource reconnects by itself (after the `retry:` the server sends) when serve restarts or the network drops.
const events = new EventSource('/api/events');
events.addEventListener('state', (e) => {
  const data = JSON.parse(e.data);
  if (data.error !== undefined) {
    connection('reconnecting', `error: ${data.error}`);
    return;
  }
  connection('live', 'live');
  render(data);
});
events.addEventListener('error', () => connection('reconnecting', 'disconnected; reconnecting…'));
