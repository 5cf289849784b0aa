/**
 * The demo page served at `GET /` in relay mode: one self-contained HTML page
 * (inline CSS and JS, no external assets) that speaks the relay protocol (README.md,
 * "Relay mode") back to the server that served it.
 *
 * Everything received is shown through textContent, never innerHTML, so a
 * message cannot inject markup. The element ids are stable: tests drive them.
 * (No backticks or dollar-brace inside: this is a template literal.)
 */
export const demoPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>rxws demo</title>
<style>
  :root { --accent: #2563eb; --muted: #6b7280; --border: #d1d5db; --soft: rgba(127,127,127,.08); }
  * { box-sizing: border-box; }
  body { margin: 0 auto; max-width: 60rem; padding: 1rem; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  h1 { font-size: 1.4rem; margin: 0; }
  h2 { font-size: 1rem; margin: 0 0 .5rem; }
  header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem 1.25rem; margin-bottom: 1rem; }
  header span { color: var(--muted); }
  output { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: CanvasText; }
  #status { font-family: inherit; font-weight: 600; }
  #status[data-state="open"] { color: #15803d; }
  #status[data-state="closed"] { color: #b91c1c; }
  main { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; align-items: start; }
  @media (max-width: 44rem) { main { grid-template-columns: minmax(0, 1fr); } }
  fieldset { border: 0; margin: 0; padding: 0; min-width: 0; display: grid; gap: .75rem; }
  form, section { border: 1px solid var(--border); border-radius: .5rem; padding: .6rem .75rem .75rem; background: var(--soft); }
  label, .hint { display: block; font-size: .85rem; color: var(--muted); margin: 0 0 .2rem; }
  .row { display: flex; gap: .5rem; align-items: end; }
  .row > .grow { flex: 1; min-width: 0; }
  .row > .id { flex: 0 0 6.5rem; }
  input { width: 100%; padding: .45rem .55rem; font: inherit; border: 1px solid var(--border); border-radius: .375rem; background: Canvas; color: CanvasText; }
  button { font: inherit; padding: .45rem .9rem; border-radius: .375rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; white-space: nowrap; }
  button.secondary { background: transparent; color: var(--accent); }
  button:disabled, input:disabled { opacity: .55; cursor: default; }
  :focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
  .rooms { display: flex; flex-wrap: wrap; align-items: center; gap: .35rem; margin-top: .5rem; }
  .rooms .hint { margin: 0; }
  #rooms { display: flex; flex-wrap: wrap; gap: .35rem; margin: 0; padding: 0; list-style: none; }
  #rooms:empty::before { content: "none"; color: var(--muted); font-size: .85rem; }
  #rooms li { padding: 0 .55rem; border-radius: 999px; border: 1px solid var(--border); font-size: .85rem; }
  #log { list-style: none; margin: 0; padding: 0; max-height: 70vh; overflow-y: auto; font-size: .9rem; }
  #log:empty::before { content: "Nothing yet."; color: var(--muted); }
  #log li { padding: .3rem .1rem; border-bottom: 1px solid var(--border); overflow-wrap: anywhere; }
  #log .meta { color: var(--muted); margin-right: .4rem; }
  #log .error { color: #b91c1c; }
  #log .system { color: var(--muted); font-style: italic; }
</style>
</head>
<body>
<header>
  <h1>rxws demo</h1>
  <span>Status: <output id="status" data-state="connecting" role="status">connecting…</output></span>
  <span>Your id: <output id="conn-id">—</output></span>
</header>
<main>
  <fieldset id="controls" disabled>
    <form id="room-form">
      <label for="room">Room</label>
      <div class="row">
        <input id="room" class="grow" name="room" maxlength="256" required autocomplete="off" value="lobby">
        <button id="join" type="submit">Join</button>
        <button id="leave" type="button" class="secondary">Leave</button>
      </div>
      <div class="rooms"><span class="hint" id="rooms-label">Joined:</span><ul id="rooms" aria-labelledby="rooms-label"></ul></div>
    </form>
    <form id="publish-form">
      <label for="publish-data">Publish to room <output id="publish-room">lobby</output></label>
      <div class="row">
        <input id="publish-data" class="grow" name="data" required autocomplete="off">
        <button id="publish" type="submit">Publish</button>
      </div>
    </form>
    <form id="broadcast-form">
      <label for="broadcast-data">Broadcast to everyone</label>
      <div class="row">
        <input id="broadcast-data" class="grow" name="data" required autocomplete="off">
        <button id="broadcast" type="submit">Broadcast</button>
      </div>
    </form>
    <form id="send-form">
      <div class="row">
        <div class="id"><label for="send-to">Send to id</label><input id="send-to" name="to" required autocomplete="off" spellcheck="false"></div>
        <div class="grow"><label for="send-data">Message</label><input id="send-data" name="data" required autocomplete="off"></div>
        <button id="send" type="submit">Send</button>
      </div>
    </form>
  </fieldset>
  <section aria-labelledby="log-title">
    <h2 id="log-title">Messages</h2>
    <ol id="log" aria-live="polite" aria-relevant="additions"></ol>
  </section>
</main>
<script>
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var status = $('status'), connId = $('conn-id'), log = $('log'), roomsList = $('rooms');
  var myId = null;
  var rooms = new Set();

  function setStatus(state, text) { status.dataset.state = state; status.textContent = text; }

  // One log line: an optional grey prefix, then the text. textContent only.
  function addLog(kind, meta, text) {
    var li = document.createElement('li');
    li.className = kind;
    if (meta) { var m = document.createElement('span'); m.className = 'meta'; m.textContent = meta; li.appendChild(m); }
    li.appendChild(document.createTextNode(text));
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function renderRooms() {
    roomsList.replaceChildren();
    rooms.forEach(function (r) { var li = document.createElement('li'); li.textContent = r; roomsList.appendChild(li); });
  }

  var show = function (data) { return typeof data === 'string' ? data : JSON.stringify(data); };
  var who = function (id) { return id === myId ? 'you' : 'id ' + id; };

  var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/');

  ws.onopen = function () { setStatus('open', 'connected'); $('controls').disabled = false; };
  ws.onerror = function () { addLog('error', 'error', 'connection error'); };
  ws.onclose = function (e) {
    $('controls').disabled = true;
    setStatus('closed', 'closed: ' + e.code + (e.reason ? ' ' + e.reason : ''));
    addLog('system', 'closed', 'code ' + e.code + (e.reason ? ', reason: ' + e.reason : ''));
  };
  ws.onmessage = function (e) {
    var msg;
    try { msg = JSON.parse(e.data); } catch (err) { return addLog('error', 'unreadable', String(e.data)); }
    switch (msg.type) {
      case 'welcome':
        myId = String(msg.id); connId.textContent = myId; $('send-to').placeholder = 'e.g. ' + myId;
        return addLog('system', 'welcome', 'your id is ' + myId);
      case 'joined': rooms.add(msg.room); renderRooms();
        return addLog('system', 'joined', msg.room + ' (' + msg.members + ' member' + (msg.members === 1 ? '' : 's') + ')');
      case 'left': rooms.delete(msg.room); renderRooms();
        return addLog('system', 'left', msg.room + ' (' + msg.members + (msg.members === 1 ? ' member remains)' : ' members remain)'));
      case 'sent': return addLog('system', 'sent', 'to ' + msg.to);
      case 'error': return addLog('error', 'error ' + msg.code, msg.message);
      case 'message':
        // Room messages name their room; the rest came by send or broadcast.
        return addLog('message', (msg.room !== undefined ? '#' + msg.room + ' · ' : '') + who(msg.from) + ':', show(msg.data));
      default: return addLog('system', msg.type, JSON.stringify(msg));
    }
  };

  function send(command) {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(command));
  }
  // Every form submits on Enter; the handler clears the message box but keeps names and ids.
  function onSubmit(formId, build, clearId) {
    $(formId).addEventListener('submit', function (e) {
      e.preventDefault();
      var command = build();
      if (!command) return;
      send(command);
      if (clearId) { $(clearId).value = ''; $(clearId).focus(); }
    });
  }
  var room = function () { return $('room').value.trim(); };
  $('room').addEventListener('input', function () { $('publish-room').textContent = room() || '(none)'; });
  onSubmit('room-form', function () { return room() && { type: 'join', room: room() }; });
  $('leave').addEventListener('click', function () { if (room()) send({ type: 'leave', room: room() }); });
  onSubmit('publish-form', function () {
    if (!room()) { addLog('error', 'publish', 'enter a room name first'); return null; }
    return { type: 'publish', room: room(), data: $('publish-data').value };
  }, 'publish-data');
  onSubmit('broadcast-form', function () { return { type: 'broadcast', data: $('broadcast-data').value }; }, 'broadcast-data');
  onSubmit('send-form', function () { return { type: 'send', to: $('send-to').value.trim(), data: $('send-data').value }; }, 'send-data');
})();
</script>
</body>
</html>
`;
