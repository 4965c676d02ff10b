// The dashboard's page and style sheet. Served from the gateway itself (no CDN, no build step);
// the Content-Security-Policy allows only these same-origin files: no inline script or style.

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Push gateway · live</title>
<link rel="stylesheet" href="/dashboard/app.css">
<link rel="icon" href="/dashboard/favicon.svg" type="image/svg+xml">
<script src="/dashboard/app.js" defer></script>
</head>
<body>
<header class="top">
  <h1>Push gateway <span class="muted" id="instance"></span></h1>
  <div class="conn"><span class="dot" id="stream-dot"></span><span id="stream-state">not connected</span>
  <button type="button" id="logout" hidden>Sign out</button></div>
</header>
<main>
  <section id="login" class="card login" hidden>
    <h2>Sign in</h2>
    <p class="muted">Paste the gateway's admin token (ADMIN_TOKEN). It is kept in this tab only.</p>
    <form id="login-form" autocomplete="off">
      <input id="token" type="password" placeholder="admin token" aria-label="admin token" required minlength="16">
      <button type="submit">Open dashboard</button>
    </form>
    <p class="error" id="login-error" role="alert"></p>
  </section>
  <section id="board" hidden>
    <div class="cards">
      <div class="card"><h2>Genesys Cloud</h2><p class="big" id="source-state">–</p><p class="muted" id="source-detail"></p></div>
      <div class="card"><h2>Lease</h2><p class="big" id="lease-state">–</p><p class="muted" id="lease-detail"></p></div>
      <div class="card"><h2>Store</h2><p class="big" id="store-state">–</p><p class="muted" id="store-detail"></p></div>
      <div class="card"><h2>Devices</h2><p class="big" id="devices-total">–</p><p class="muted" id="devices-detail"></p></div>
      <div class="card"><h2>Since start</h2><p class="big" id="totals-rings">–</p><p class="muted" id="totals-detail"></p></div>
    </div>
    <div class="grid">
      <div class="card wide"><h2>Event → push accepted (ms), last 100 pushes</h2><canvas id="chart" height="180"></canvas><p class="muted" id="chart-legend"></p></div>
      <div class="card wide"><h2>Push accepted → phone reported (ms), last 100 receipts</h2><canvas id="receipt-chart" height="180"></canvas><p class="muted" id="receipt-legend"></p></div>
      <div class="card"><h2>Unreachable agents</h2><ul class="problems" id="unreachable"><li class="muted">none</li></ul></div>
      <div class="card"><h2>Failures</h2><ul class="problems" id="problems"><li class="muted">none yet</li></ul>
        <h2>Normal outcomes without a push</h2><ul class="problems" id="normal"><li class="muted">none yet</li></ul></div>
    </div>
    <div class="card feed"><h2>Live feed</h2>
      <table><thead><tr><th>time</th><th>what</th><th>conversation</th><th>agent</th><th>detail</th><th>decide</th><th>queue</th><th>push service</th><th>total</th></tr></thead>
      <tbody id="feed"></tbody></table>
    </div>
  </section>
</main>
</body>
</html>
`

export const DASHBOARD_CSS = `
:root { --bg: #f4f6f9; --card: #fff; --ink: #1d2733; --muted: #667385; --line: #e3e7ee;
  --ok: #1f9d55; --bad: #d64545; --warn: #c98a00; --accent: #2f6fdf; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--ink); }
.top { display: flex; justify-content: space-between; align-items: center; padding: 12px 24px; background: #16202c; color: #fff; }
.top h1 { font-size: 18px; margin: 0; font-weight: 600; }
.top .muted { color: #9fb0c4; font-weight: 400; font-size: 14px; }
.conn { display: flex; gap: 8px; align-items: center; }
.dot { width: 10px; height: 10px; border-radius: 50%; background: var(--muted); display: inline-block; }
.dot.ok { background: var(--ok); } .dot.bad { background: var(--bad); }
main { padding: 20px 24px; max-width: 1400px; margin: 0 auto; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; margin-bottom: 16px; }
.card h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 8px; font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 16px; }
.cards .card { margin-bottom: 0; }
.grid { display: grid; grid-template-columns: 2fr 1fr; gap: 16px; margin-top: 16px; }
.big { font-size: 22px; font-weight: 600; margin: 0; }
.big.ok { color: var(--ok); } .big.bad { color: var(--bad); } .big.warn { color: var(--warn); }
.muted { color: var(--muted); margin: 4px 0 0; }
canvas { width: 100%; display: block; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.num { text-align: right; }
td.detail { white-space: normal; word-break: break-word; width: 40%; }
.feed { overflow-x: auto; }
.tag { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #e8eef9; color: var(--accent); }
.tag.ring { background: #e3f4ea; color: var(--ok); } .tag.cancel { background: #eef0f3; color: #4b5563; }
.tag.suppressed { background: #fff4d6; color: var(--warn); } .tag.failed { background: #fde7e7; color: var(--bad); }
.problems { list-style: none; margin: 0; padding: 0; max-height: 230px; overflow: auto; }
.problems li { padding: 6px 0; border-bottom: 1px solid var(--line); }
.login { max-width: 420px; margin: 60px auto; }
.login form { display: flex; gap: 8px; margin-top: 12px; }
input { flex: 1; padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
button { padding: 8px 14px; border: 0; border-radius: 6px; background: var(--accent); color: #fff; font: inherit; cursor: pointer; }
.top button { background: #2b3a4d; }
.error { color: var(--bad); min-height: 1.4em; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
`

export const DASHBOARD_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2f6fdf"/><path d="M10 8h7a6 6 0 0 1 0 12h-3v4h-4z M14 12v4h3a2 2 0 0 0 0-4z" fill="#fff" fill-rule="evenodd"/></svg>`
