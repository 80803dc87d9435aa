"""The admin page: one HTML document with its CSS and JS inline, nothing fetched from anywhere but this daemon.

How a browser authenticates: the page itself is public and carries no data (anyone may load the empty shell, as
anyone may load /openapi.json). Its script asks for an admin token once, keeps it in sessionStorage (gone when the
tab closes; never in a URL, a cookie or the history) and sends it as `Authorization: Bearer` to the JSON API, whose
middleware checks the admin scope exactly as for any client. Why not the alternatives: a token in a URL leaks into
logs and history; a cookie would need CSRF defences the API does not have; server-sent events cannot carry an
Authorization header (EventSource has no headers), so the page polls every POLL_SECONDS instead; and the admin
socket is a unix socket a browser cannot reach without a proxy.

The Content-Security-Policy admits the one inline style and the one inline script by their SHA-256 (so an injected
<script> does not run), lets the script talk to this origin only, and forbids frames, forms, plugins and base
rewriting. The script writes every value with textContent or SVG attributes, never HTML.
"""

from __future__ import annotations

import base64
import hashlib

POLL_SECONDS = 3        # how fresh the page is: a modem unplugged shows within a poll (the daemon notices at once)
ACTIVITY_SECONDS = 30   # the plots are per minute; the page also reads them again when the queue's counts change

STYLE = """
body{font:14px system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header h1{font-size:16px;margin:0}#status{margin-left:auto;font-size:12px}
main{padding:12px 16px;display:grid;gap:12px}section{background:#fff;border:1px solid #dde1e7;border-radius:6px;
padding:8px 12px;overflow-x:auto}h2{font-size:14px;margin:4px 0 8px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eef0f3;
white-space:nowrap}th{font-weight:600;color:#4a5365}
.ok{color:#11733b;font-weight:600}.bad{color:#b3261e;font-weight:600}.muted{color:#6b7385}
tr.pick{cursor:pointer}tr.pick:hover{background:#f0f4fb}
#login{max-width:420px;margin:48px auto}#login input{width:100%;box-sizing:border-box;padding:6px;margin:8px 0}
.stats{display:flex;gap:24px}.stat b{display:block;font-size:22px}
.plots{display:grid;grid-template-columns:1fr 1fr;gap:12px}svg{width:100%;height:160px;background:#fbfcfd}
[hidden]{display:none!important}
"""

SCRIPT = """
'use strict';
const POLL_MS = %(poll)d * 1000, ACTIVITY_MS = %(activity)d * 1000, KEY = 'modemd-admin-token';
// The modem fields shown first, in this order; any other field /v1/modems carries (budgets, counters) follows them.
const MODEM_FIELDS = ['name', 'state', 'signal_dbm', 'operator', 'registration', 'port', 'host', 'groups',
                      'last_error'];
const MODEM_HIDDEN = new Set(['queue_depth', 'rssi', 'imei', 'iccid', 'imsi', 'manufacturer', 'model',
                              'host_renewed_at',
                              'health', 'counts', 'queue']);
// A modem's sending health (docs/health.md), a column each after the fields above: the queued messages it may take
// (and the oldest one's wait), why it claims nothing now (at a budget, quarantined) or "ok", its budgets used, its
// quarantine, today's counters and its last send.
const COUNTED = [['sent_today', 'sent'], ['failed_today', 'failed'], ['possible_duplicate', 'possible duplicate'],
                 ['unknown', 'unknown']];
const MODEM_HEALTH = {
  queue: (h, m) => m.queue && (m.queue.depth + (m.queue.depth ? ' (oldest ' + age(m.queue.oldest_age_s) + ')' : '')),
  sending: (h) => h.sending,
  budget: (h) => Object.entries(h.budget || {}).filter(([, u]) => u).map(([p, u]) => p + ' ' + u.used + '/' + u.limit)
    .join(' · '),
  quarantine: (h) => h.quarantine && ('until ' + h.quarantine.until + ' (' + h.quarantine.failures + ' failures: ' +
    h.quarantine.reason + ')'),
  today: (h, m) => m.counts && COUNTED.filter(([k], i) => i < 2 || m.counts[k])
    .map(([k, label]) => m.counts[k] + ' ' + label).join(' · '),
  last_result: (h) => h.last_result &&
    (h.last_result.outcome + (h.last_result.error ? ' (' + h.last_result.error + ')' : '') + ', ' + h.last_result.at),
};
const $ = (id) => document.getElementById(id);
let timers = [], lastCounts = null;

function token() { return sessionStorage.getItem(KEY); }

async function api(path) {
  const resp = await fetch(path, {headers: {'Authorization': 'Bearer ' + token()}, cache: 'no-store'});
  if (resp.status === 401 || resp.status === 403) { signOut('that token is not an admin token'); throw new Error('auth'); }
  if (!resp.ok) throw new Error(path + ': HTTP ' + resp.status);
  return resp.json();
}

function cell(row, value, cls) {
  const td = row.insertCell();
  td.textContent = value === null || value === undefined ? '' : String(value);
  if (cls) td.className = cls;
  return td;
}

function fill(tbodyId, rows, render) {
  const body = $(tbodyId);
  body.replaceChildren();
  for (const item of rows) render(body.insertRow(), item);
}

function header(theadId, names) {
  const head = $(theadId);
  head.replaceChildren();
  const row = head.insertRow();
  for (const name of names) { const th = document.createElement('th'); th.textContent = name; row.appendChild(th); }
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return '-';
  if (seconds < 90) return Math.round(seconds) + ' s';
  if (seconds < 5400) return Math.round(seconds / 60) + ' min';
  return (seconds / 3600).toFixed(1) + ' h';
}

function shown(value) {
  if (Array.isArray(value)) return value.join(', ');
  return value !== null && typeof value === 'object' ? JSON.stringify(value) : value;
}

async function pollModems() {
  const modems = (await api('/v1/modems')).data;
  const extra = [];
  for (const m of modems) for (const k of Object.keys(m))
    if (!MODEM_FIELDS.includes(k) && !MODEM_HIDDEN.has(k) && !extra.includes(k)) extra.push(k);
  const fields = MODEM_FIELDS.concat(Object.keys(MODEM_HEALTH), extra);
  header('modems-head', fields);
  fill('modems-body', modems, (row, m) => {
    const health = m.health || {};
    row.dataset.modem = m.name;
    row.dataset.state = m.state;
    row.dataset.sending = health.sending || '';
    for (const f of fields) {
      const value = f in MODEM_HEALTH ? MODEM_HEALTH[f](health, m) : shown(m[f]);
      const good = f === 'state' ? m.state === 'ready' : f === 'sending' && value ? value === 'ok' : null;
      cell(row, value, good === null ? '' : good ? 'ok' : 'bad').dataset.field = f;
    }
  });
}

async function pollQueue() {
  const q = await api('/v1/admin/queue');
  $('queue-depth').textContent = String(q.depth);
  $('queue-oldest').textContent = age(q.oldest_queued_age_s);
  $('queue-counts').textContent = Object.entries(q.counts).map(([s, n]) => s + ' ' + n).join(' · ') || 'no messages';
  // A message moved (sent, failed...): the plots may have changed too, so they need not wait for their own timer.
  const counts = JSON.stringify(q.counts);
  if (lastCounts !== null && counts !== lastCounts) run(pollActivity);
  lastCounts = counts;
}

async function pollMessages() {
  const page = await api('/v1/admin/messages');
  fill('messages-body', page.data, (row, m) => {
    row.className = 'pick';
    row.dataset.id = m.id;
    row.addEventListener('click', () => showEvents(m.id));
    const bad = m.status === 'failed' || m.status === 'expired';
    cell(row, m.id); cell(row, m.to); cell(row, m.status, bad ? 'bad' : '');
    for (const v of [m.modem, m.attempts, m.created_at, m.sent_at, m.error && m.error.message]) cell(row, v);
  });
}

async function showEvents(id) {
  const history = await api('/v1/messages/' + encodeURIComponent(id) + '/events');
  $('events-title').textContent = 'History of ' + history.id + ' (' + history.status + ')';
  fill('events-body', history.events, (row, e) => {
    for (const v of [e.at, e.from || '(accepted)', e.to, e.reason]) cell(row, v);
  });
  $('events').hidden = false;
}

async function pollWebhooks() {
  const hooks = await api('/v1/admin/webhooks');
  $('webhooks-pending').textContent = String(hooks.pending);
  fill('webhooks-body', hooks.data, (row, d) => {
    for (const v of [d.seq, d.hook, d.event]) cell(row, v);
    cell(row, d.state, d.state === 'failed' ? 'bad' : '');
    for (const v of [d.attempts, d.queued_at, d.next_attempt_at, d.last_error]) cell(row, v);
  });
}

const SVG = 'http://www.w3.org/2000/svg';
function svgChild(parent, name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  parent.appendChild(el);
  return el;
}

// One series per minute over [since, until]: bars or a polyline, a y axis labelled with its top value.
function plot(svgId, since, until, series) {
  const svg = $(svgId), W = 600, H = 160, PAD = 28;
  svg.replaceChildren();
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  const t0 = Date.parse(since), t1 = Date.parse(until);
  const top = Math.max(0, ...series.flatMap((s) => s.points.map((p) => p.y))) || 1;
  const x = (t) => PAD + (W - PAD - 4) * (t - t0) / Math.max(1, t1 - t0);
  const y = (v) => H - PAD + 8 - (H - PAD) * v / top;
  svgChild(svg, 'line', {x1: PAD, y1: y(0), x2: W - 4, y2: y(0), stroke: '#b8bfcc'});
  svgChild(svg, 'text', {x: 2, y: 14, 'font-size': 11, fill: '#4a5365'}).textContent = String(+top.toFixed(2));
  svgChild(svg, 'text', {x: PAD, y: H - 4, 'font-size': 11, fill: '#4a5365'}).textContent = since.slice(11, 16);
  svgChild(svg, 'text', {x: W - 40, y: H - 4, 'font-size': 11, fill: '#4a5365'}).textContent = until.slice(11, 16);
  for (const s of series) {
    if (s.bars) {
      for (const p of s.points)
        svgChild(svg, 'rect', {x: x(p.t), y: y(p.y), width: 2, height: Math.max(0, y(0) - y(p.y)), fill: s.color});
    } else {
      // A dot per minute too: a minute with sends between two quiet ones is a line of one point, invisible alone.
      svgChild(svg, 'polyline', {points: s.points.map((p) => x(p.t) + ',' + y(p.y)).join(' '),
                                 fill: 'none', stroke: s.color, 'stroke-width': 1.5});
      for (const p of s.points) svgChild(svg, 'circle', {cx: x(p.t), cy: y(p.y), r: 2.5, fill: s.color});
    }
  }
}

async function pollActivity() {
  const a = await api('/v1/admin/activity');
  const pts = (key) => a.minutes.map((m) => ({t: Date.parse(m.at), y: m[key]}));
  plot('plot-sends', a.since, a.until, [{points: pts('sends'), color: '#2f6fde', bars: true}]);
  plot('plot-latency', a.since, a.until, [{points: pts('latency_max_s'), color: '#d97a00'},
                                          {points: pts('latency_median_s'), color: '#11733b'}]);
  $('activity-note').textContent = a.minutes.length ? (a.truncated ? 'oldest minutes left out' : '') : 'no sends yet';
}

async function run(job) {
  try { await job(); $('status').textContent = 'updated ' + new Date().toLocaleTimeString(); }
  catch (err) { if (err.message !== 'auth') $('status').textContent = 'update failed: ' + err.message; }
}

function every(ms, job) { run(job); timers.push(setInterval(() => run(job), ms)); }

function start() {
  $('login').hidden = true; $('main').hidden = false; $('sign-out').hidden = false;
  for (const job of [pollModems, pollQueue, pollMessages, pollWebhooks]) every(POLL_MS, job);
  every(ACTIVITY_MS, pollActivity);
}

function signOut(reason) {
  for (const t of timers) clearInterval(t);
  timers = []; lastCounts = null;
  sessionStorage.removeItem(KEY);
  $('main').hidden = true; $('login').hidden = false; $('sign-out').hidden = true;
  $('status').textContent = 'not signed in';
  $('login-error').textContent = reason || '';
}

$('login-form').addEventListener('submit', (event) => {
  event.preventDefault();       // the token goes to sessionStorage, never into a URL or a form post
  const value = $('token').value.trim();
  $('token').value = '';
  if (!value) return;
  sessionStorage.setItem(KEY, value);
  // One request checks the token before the polls start, so a wrong one is refused once, not by every poll.
  api('/v1/admin/queue').then(start, (err) => { if (err.message !== 'auth') $('login-error').textContent = err.message; });
});
$('sign-out').addEventListener('click', () => signOut(''));
$('events-close').addEventListener('click', () => { $('events').hidden = true; });
if (token()) start();
""" % {"poll": POLL_SECONDS, "activity": ACTIVITY_SECONDS}

BODY = """
<header><h1>modemd</h1><span id="status">not signed in</span><button id="sign-out" type="button" hidden>sign out</button>
</header>
<section id="login"><h2>Admin token</h2>
<form id="login-form" autocomplete="off"><label for="token">A token of an app with the admin scope; kept in this
tab only (sessionStorage).</label><input id="token" type="password" autocomplete="off">
<button type="submit">Sign in</button></form><p id="login-error" class="bad"></p></section>
<main id="main" hidden>
<section><h2>Modems</h2><table><thead id="modems-head"></thead><tbody id="modems-body"></tbody></table></section>
<section><h2>Queue</h2><div class="stats"><div class="stat">queued<b id="queue-depth">-</b></div>
<div class="stat">oldest queued<b id="queue-oldest">-</b></div></div><p id="queue-counts" class="muted"></p></section>
<section><h2>Sends and latency</h2><div class="plots"><div>sends per minute<svg id="plot-sends"></svg></div>
<div>accepted to sent, seconds (max, median)<svg id="plot-latency"></svg></div></div>
<p id="activity-note" class="muted"></p></section>
<section><h2>Recent messages</h2><p class="muted">Click a row for its history.</p><table><thead><tr><th>id</th>
<th>to</th><th>status</th><th>modem</th><th>attempts</th><th>accepted</th><th>sent</th><th>error</th></tr></thead>
<tbody id="messages-body"></tbody></table></section>
<section id="events" hidden><h2 id="events-title"></h2><button id="events-close" type="button">close</button>
<table><thead><tr><th>at</th><th>from</th><th>to</th><th>reason</th></tr></thead><tbody id="events-body"></tbody>
</table></section>
<section><h2>Webhook deliveries pending or failed (<span id="webhooks-pending">-</span> pending)</h2><table><thead>
<tr><th>seq</th><th>hook</th><th>event</th><th>state</th><th>attempts</th><th>queued</th><th>next attempt</th>
<th>last error</th></tr></thead><tbody id="webhooks-body"></tbody></table></section>
</main>
"""

HTML = ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>modemd admin</title>"
        "<meta name=\"viewport\" content=\"width=device-width\"><link rel=\"icon\" href=\"data:,\">"
        f"<style>{STYLE}</style></head>\n<body>{BODY}<script>{SCRIPT}</script></body></html>\n")


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'", f"script-src {_sha256(SCRIPT)}", f"style-src {_sha256(STYLE)}", "connect-src 'self'",
    "img-src data:", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"])

HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"}
