// The dashboard's browser script, served as /dashboard/app.js. Plain ES2020 for any current
// browser. The admin token is typed once into a form and kept in sessionStorage (this tab only,
// gone when it closes); it travels as an Authorization header on fetch(), never in a URL or a
// cookie, so no other site can make the browser use it (no CSRF). Live updates are server-sent
// events read through fetch()'s streaming body, because EventSource cannot send that header.
// All page text is set with textContent: nothing from the server is parsed as HTML.

export const DASHBOARD_JS = String.raw`'use strict'
;(function () {
  var KEY = 'push-gateway-admin-token'
  var $ = function (id) { return document.getElementById(id) }
  var feed = [], latencies = [], problems = [], normal = [], receipts = []
  var token = sessionStorage.getItem(KEY)
  var controller = null, retryMs = 1000

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e }
  function short(id) { return id && id.length > 10 ? id.slice(0, 8) + '…' : (id || '') }
  function ms(v) { return v === undefined || v === null ? '–' : (v < 10 ? v.toFixed(1) : Math.round(v)) + ' ms' }
  function time(at) { return new Date(at).toLocaleTimeString() }

  // 403 ADMIN_DISABLED: the gateway runs without ADMIN_TOKEN, so no token can work; saying "refused"
  // would send the operator looking for a typo.
  function refusal(err) {
    return err.message === 'off' ? 'Admin access is off on this gateway: start it with ADMIN_TOKEN set to use the dashboard.' : 'The admin token was refused.'
  }

  function showLogin(message) {
    $('board').hidden = true; $('login').hidden = false; $('logout').hidden = true
    $('login-error').textContent = message || ''
    setStream(false, 'signed out')
  }
  function setStream(ok, text) { $('stream-dot').className = 'dot ' + (ok ? 'ok' : 'bad'); $('stream-state').textContent = text }

  async function api(path, signal) {
    var res = await fetch(path, { headers: { authorization: 'Bearer ' + token }, signal: signal, cache: 'no-store' })
    if (res.status === 401 || res.status === 403) {
      var body = await res.json().catch(function () { return {} })
      sessionStorage.removeItem(KEY); token = null
      throw new Error(body && body.error && body.error.code === 'ADMIN_DISABLED' ? 'off' : 'auth')
    }
    if (!res.ok) throw new Error('HTTP ' + res.status)
    return res
  }

  function renderState(s) {
    $('instance').textContent = s.instanceId
    var src = s.source || {}
    var c = $('source-state'); c.textContent = src.connected ? 'connected' : 'disconnected'; c.className = 'big ' + (src.connected ? 'ok' : 'bad')
    $('source-detail').textContent = (src.name || '?') + ' · ' + (src.channels || 0) + ' channel(s) · ' + (src.topics || 0) + ' topic(s) · ' + (src.reconnects || 0) + ' reconnect(s)'
    var l = $('lease-state')
    if (!src.lease) { l.textContent = 'single instance'; l.className = 'big'; $('lease-detail').textContent = 'no lease: this instance listens' }
    else { l.textContent = src.lease.holder ? 'holder' : 'standby'; l.className = 'big ' + (src.lease.holder ? 'ok' : 'warn'); $('lease-detail').textContent = 'holder: ' + (src.lease.holderId || 'none') + (src.lease.fencingToken !== undefined ? ' · fencing ' + src.lease.fencingToken : '') }
    var st = $('store-state'); st.textContent = s.store.up ? 'up' : 'DOWN'; st.className = 'big ' + (s.store.up ? 'ok' : 'bad')
    $('store-detail').textContent = s.store.kind + ' · ' + s.inFlight + ' push(es) in flight'
    var d = s.devices || {}
    $('devices-total').textContent = String(s.totalDevices)
    $('devices-detail').textContent = 'iOS ' + (d.ios || 0) + ' · Android ' + (d.android || 0) + ' · Web ' + (d.web || 0)
    var t = s.totals
    $('totals-rings').textContent = t.rings + ' ring' + (t.rings === 1 ? '' : 's')
    $('totals-detail').textContent = t.cancels + ' cancelled · ' + t.suppressed + ' suppressed · ' + t.delivered + ' delivered · ' + t.failed + ' failed'
    var u = $('unreachable'), agents = s.unreachable || []
    u.textContent = ''
    if (agents.length === 0) u.appendChild(el('li', 'muted', 'none'))
    agents.forEach(function (a) { var li = el('li'); li.appendChild(el('span', 'tag failed', 'unreachable')); li.appendChild(document.createTextNode(' ' + (a.name || short(a.userId)) + (a.since ? ' · since ' + time(Date.parse(a.since)) : ''))); li.title = a.userId; u.appendChild(li) })
  }

  function what(item) {
    if (item.type === 'push') return item.outcome === 'delivered' ? ['push', 'tag'] : ['push ' + item.outcome, 'tag failed']
    return [item.type, 'tag ' + item.type]
  }
  function detail(item) {
    if (item.type === 'ring') return item.mediaType + ' · ' + item.devices + ' device(s)'
    if (item.type === 'cancel') return item.reason + ' · ' + item.devices + ' device(s)'
    if (item.type === 'suppressed') return item.reason
    return item.action + ' · ' + item.provider + ' · ' + item.platform + ' ' + item.device + (item.reason ? ' · ' + item.reason : '') + (item.attempts > 1 ? ' · ' + item.attempts + ' attempts' : '')
  }

  function addItem(item) {
    if (item.type === 'receipt') {
      if (item.latencyMs !== undefined) { receipts.push(item.latencyMs); if (receipts.length > 100) receipts.shift(); drawChart() }
      return
    }
    feed.unshift(item); if (feed.length > 200) feed.pop()
    var tr = el('tr'), w = what(item), s = item.stages || {}
    tr.appendChild(el('td', '', time(item.at)))
    var tdw = el('td'); tdw.appendChild(el('span', w[1], w[0])); tr.appendChild(tdw)
    var conv = el('td', '', short(item.conversationId)); conv.title = item.conversationId; tr.appendChild(conv)
    var agent = el('td', '', item.agentName || short(item.userId)); agent.title = item.userId; tr.appendChild(agent)
    tr.appendChild(el('td', 'detail', detail(item)))
    ;[s.decideMs, s.queueMs, s.serviceMs, s.totalMs].forEach(function (v) { tr.appendChild(el('td', 'num', ms(v))) })
    tr.dataset.conversation = item.conversationId
    var body = $('feed'); body.insertBefore(tr, body.firstChild)
    while (body.children.length > 200) body.removeChild(body.lastChild)
    if (item.type === 'push' && item.outcome === 'delivered' && s.totalMs !== undefined) { latencies.push(s.totalMs); if (latencies.length > 100) latencies.shift(); drawChart() }
    if (item.type === 'suppressed' && item.normal) addProblem(item, 'normal', normal)
    else if (item.type === 'suppressed' || (item.type === 'push' && item.outcome !== 'delivered')) addProblem(item, 'problems', problems)
  }

  function addProblem(item, listId, seen) {
    var list = $(listId); if (seen.length === 0) list.textContent = ''
    seen.unshift(item); if (seen.length > 50) seen.pop()
    var li = el('li'); li.appendChild(el('span', what(item)[1], what(item)[0])); li.appendChild(document.createTextNode(' ' + time(item.at) + ' · ' + (item.agentName ? item.agentName + ' · ' : '') + short(item.conversationId) + ' · ' + detail(item)))
    list.insertBefore(li, list.firstChild)
    while (list.children.length > 50) list.removeChild(list.lastChild)
  }

  function pct(sorted, p) { return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0 }
  function drawChart() {
    draw('chart', 'chart-legend', latencies, 'pushes')
    draw('receipt-chart', 'receipt-legend', receipts, 'receipts')
  }
  function draw(id, legend, values, noun) {
    var canvas = $(id), ratio = window.devicePixelRatio || 1, w = canvas.clientWidth, h = 180
    canvas.width = w * ratio; canvas.height = h * ratio
    var g = canvas.getContext('2d'); g.scale(ratio, ratio); g.clearRect(0, 0, w, h)
    var sorted = values.slice().sort(function (a, b) { return a - b })
    var max = Math.max(5, pct(sorted, 0.99) * 1.2), pad = 36
    g.font = '11px system-ui, sans-serif'; g.fillStyle = '#667385'; g.strokeStyle = '#e3e7ee'
    for (var i = 0; i <= 4; i++) { var y = 8 + (h - 28) * i / 4; g.beginPath(); g.moveTo(pad, y); g.lineTo(w, y); g.stroke(); g.fillText(Math.round(max * (1 - i / 4)) + '', 4, y + 4) }
    var step = (w - pad - 8) / Math.max(1, 99)
    g.fillStyle = '#2f6fdf'
    values.forEach(function (v, k) { var x = pad + k * step, y = 8 + (h - 28) * (1 - Math.min(v, max) / max); g.fillRect(x, y, Math.max(2, step - 2), h - 20 - y) })
    ;[[0.5, '#1f9d55', 'p50'], [0.95, '#d64545', 'p95']].forEach(function (q) {
      var v = pct(sorted, q[0]); if (!sorted.length) return
      var y = 8 + (h - 28) * (1 - Math.min(v, max) / max); g.strokeStyle = q[1]; g.setLineDash([4, 3]); g.beginPath(); g.moveTo(pad, y); g.lineTo(w, y); g.stroke(); g.setLineDash([])
    })
    $(legend).textContent = sorted.length ? 'p50 ' + ms(pct(sorted, 0.5)) + ' (green) · p95 ' + ms(pct(sorted, 0.95)) + ' (red) · max ' + ms(sorted[sorted.length - 1]) + ' · ' + sorted.length + ' ' + noun : 'no ' + noun + ' yet'
  }

  function dispatch(event, data) {
    var parsed = JSON.parse(data)
    if (event === 'state') renderState(parsed)
    else if (event === 'feed') addItem(parsed)
  }

  async function stream() {
    controller = new AbortController()
    try {
      var res = await api('/dashboard/api/stream', controller.signal)
      setStream(true, 'live'); retryMs = 1000
      var reader = res.body.getReader(), decoder = new TextDecoder(), buffer = ''
      for (;;) {
        var chunk = await reader.read(); if (chunk.done) break
        buffer += decoder.decode(chunk.value, { stream: true })
        var end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          var frame = buffer.slice(0, end); buffer = buffer.slice(end + 2)
          var event = 'message', data = []
          frame.split('\n').forEach(function (line) {
            if (line.indexOf('event:') === 0) event = line.slice(6).trim()
            else if (line.indexOf('data:') === 0) data.push(line.slice(5).trim())
          })
          if (data.length) dispatch(event, data.join('\n'))
        }
      }
    } catch (err) {
      if (err && (err.message === 'auth' || err.message === 'off')) return showLogin(refusal(err))
      if (controller.signal.aborted) return
    }
    setStream(false, 'reconnecting…')
    setTimeout(stream, retryMs); retryMs = Math.min(retryMs * 2, 15000)
  }

  async function open() {
    $('login').hidden = true; $('board').hidden = false; $('logout').hidden = false
    try {
      var s = await (await api('/dashboard/api/state')).json()
      renderState(s); s.recent.forEach(addItem); drawChart()
    } catch (err) { if (err && (err.message === 'auth' || err.message === 'off')) return showLogin(refusal(err)) }
    stream()
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('login-form').addEventListener('submit', function (e) {
      e.preventDefault(); token = $('token').value.trim(); sessionStorage.setItem(KEY, token); $('token').value = ''; open()
    })
    $('logout').addEventListener('click', function () { if (controller) controller.abort(); sessionStorage.removeItem(KEY); token = null; showLogin('') })
    window.addEventListener('resize', drawChart)
    if (token) open(); else showLogin('')
  })
})()
`
