// The live log page. Every record arrives over an EventSource, which resumes
// after a reconnect with Last-Event-ID, so no line is lost or repeated. A
// refused stream (a 503 from a full server) closes an EventSource for good,
// so the page then opens a new one itself, later, with ?after= the last
// record it has. Text is only ever set with textContent: output is never
// parsed as HTML.
(function () {
  "use strict";
  var root = document.getElementById("job");
  var id = root.dataset.job;
  var logEl = document.getElementById("log");
  var followEl = document.getElementById("follow");
  var connEl = document.getElementById("conn");
  var countEl = document.getElementById("count");
  var statusEl = document.getElementById("jobstatus");
  var cancelEl = document.getElementById("cancel");
  var filterEl = document.getElementById("hostfilter");
  var onlyHost = ""; // show only this host's lines; "" for all
  var MAX_LINES = 20000; // lines kept on the page; the raw log has them all
  var pending = [];
  var scheduled = false;
  var open = {}; // host + stream -> line element still waiting for its "\n"
  var lines = 0, dropped = 0, lastSeq = 0;

  // A "\r" returns to the start of the line, as a terminal does: show what
  // the last rewrite left, so a progress bar is one line, not a thousand.
  function visible(raw) {
    if (raw.indexOf("\r") < 0) return raw;
    var parts = raw.split("\r");
    for (var i = parts.length - 1; i >= 0; i--) {
      if (parts[i] !== "") return parts[i];
    }
    return "";
  }

  // Colours (SGR sequences) become spans with classes; every other control
  // sequence (cursor moves, titles, clipboard writes) and control character
  // is dropped. Text still only ever goes in through text nodes.
  var ESC = /\x1b\[([0-9;:]*)m|\x1b\[[0-?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
  var CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;

  function paint(el, text) {
    if (!CONTROL.test(text)) {
      el.textContent = text;
      return;
    }
    el.textContent = "";
    var fg = -1, bold = false, last = 0, m;
    function emit(s) {
      if (!s) return;
      if (fg < 0 && !bold) {
        el.appendChild(document.createTextNode(s));
        return;
      }
      var span = document.createElement("span");
      span.className = (fg >= 0 ? "fg-" + fg : "") + (bold ? (fg >= 0 ? " b" : "b") : "");
      span.textContent = s;
      el.appendChild(span);
    }
    ESC.lastIndex = 0;
    while ((m = ESC.exec(text)) !== null) {
      emit(text.slice(last, m.index));
      last = ESC.lastIndex;
      if (m[1] === undefined) continue;
      var codes = m[1] === "" ? [0] : m[1].split(/[;:]/).map(Number);
      for (var i = 0; i < codes.length; i++) {
        var c = codes[i];
        if (c === 0) { fg = -1; bold = false; }
        else if (c === 1) bold = true;
        else if (c === 22) bold = false;
        else if (c >= 30 && c <= 37) fg = c - 30;
        else if (c >= 90 && c <= 97) fg = c - 90 + 8;
        else if (c === 39) fg = -1;
        else if (c === 38 || c === 48) break; // 256-colour and RGB forms: not shown
      }
    }
    emit(text.slice(last));
  }

  function render(rec) {
    var key = rec.host + "\u0000" + rec.stream;
    var el = open[key];
    if (el) {
      el._raw += rec.text;
      paint(el.lastChild, visible(el._raw));
    } else {
      el = document.createElement("div");
      el.className = "line " + rec.stream;
      el.dataset.seq = rec.seq;
      el.dataset.host = rec.host;
      if (onlyHost && rec.host !== onlyHost) el.hidden = true;
      el._raw = rec.text;
      var host = document.createElement("span");
      host.className = "host";
      host.textContent = rec.host;
      var text = document.createElement("span");
      text.className = "text";
      paint(text, visible(rec.text));
      el.appendChild(host);
      el.appendChild(text);
      logEl.appendChild(el);
      lines++;
    }
    if (rec.nl) delete open[key]; else open[key] = el;
  }

  function flush() {
    scheduled = false;
    var batch = pending;
    pending = [];
    for (var i = 0; i < batch.length; i++) render(batch[i]);
    while (lines > MAX_LINES && logEl.firstChild) {
      logEl.removeChild(logEl.firstChild);
      lines--;
      dropped++;
    }
    countEl.textContent = lastSeq + " records" + (dropped ? " (" + dropped + " older lines not shown; see the raw log)" : "");
    if (followEl.checked) logEl.scrollTop = logEl.scrollHeight;
  }

  function duration(run) {
    if (!run.started_at) return "";
    var end = run.finished_at ? new Date(run.finished_at) : new Date();
    var ms = end - new Date(run.started_at);
    return ms < 1000 ? ms + "ms" : (ms / 1000).toFixed(1) + "s";
  }

  function setStatus(el, status) {
    el.textContent = status;
    el.className = "status s-" + status;
  }

  function updateJob(job) {
    setStatus(statusEl, job.status);
    var done = ["queued", "running"].indexOf(job.status) < 0;
    cancelEl.hidden = done;
    var body = document.getElementById("runs");
    job.runs.forEach(function (run) {
      var tr = body.querySelector('tr[data-host="' + CSS.escape(run.host) + '"]');
      if (!tr) return;
      setStatus(tr.children[1].firstChild, run.status);
      var exit = run.exit_code !== null && run.exit_code !== undefined ? String(run.exit_code) : "";
      if (run.signal) exit = "signal " + run.signal;
      tr.children[2].textContent = exit;
      tr.children[3].textContent = duration(run);
      tr.children[4].textContent = run.error || "";
    });
  }

  function queue(rec) {
    pending.push(rec);
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(flush);
    }
  }

  // Retries of a refused stream wait 1 s, doubling up to 30 s, each cut by
  // a random part of up to a half: pages refused together come back apart.
  var RETRY_MIN = 1000, RETRY_MAX = 30000;
  var es = null, ended = false, retryDelay = 0, retryTimer = 0;

  function connect() {
    retryTimer = 0;
    var url = "/api/jobs/" + encodeURIComponent(id) + "/log";
    // A new EventSource cannot send Last-Event-ID; its own reconnects do,
    // and the server prefers the header.
    if (lastSeq > 0) url += "?after=" + lastSeq;
    es = new EventSource(url);
    es.addEventListener("open", function () {
      retryDelay = 0;
      connEl.textContent = "live";
    });
    es.addEventListener("line", function (ev) {
      var rec = JSON.parse(ev.data);
      lastSeq = rec.seq;
      queue(rec);
    });
    // Records the server lost (its archive could not be written): a line of
    // its own where they were, then the log goes on.
    es.addEventListener("gap", function (ev) {
      var gap = JSON.parse(ev.data);
      lastSeq = gap.to;
      queue({ seq: gap.to, host: "", stream: "system gap", text: gap.message, nl: true });
    });
    es.addEventListener("status", function (ev) { updateJob(JSON.parse(ev.data)); });
    es.addEventListener("end", function (ev) {
      // Close it ourselves: a closed stream would otherwise be reopened.
      ended = true;
      ev.target.close();
      flush();
      connEl.textContent = "finished: " + JSON.parse(ev.data).status;
      root.dataset.ended = "true";
    });
    es.addEventListener("notice", function (ev) { connEl.textContent = JSON.parse(ev.data).message; });
    es.addEventListener("error", function (ev) {
      if (ended || ev.target !== es) return;
      connEl.textContent = "reconnecting…";
      // CONNECTING: the browser retries by itself. CLOSED: it gave up.
      if (es.readyState === EventSource.CLOSED && !retryTimer) {
        retryDelay = retryDelay ? Math.min(retryDelay * 2, RETRY_MAX) : RETRY_MIN;
        retryTimer = setTimeout(connect, retryDelay * (0.5 + Math.random() / 2));
      }
    });
  }
  connect();

  logEl.addEventListener("scroll", function () {
    var atBottom = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 8;
    if (followEl.checked !== atBottom) followEl.checked = atBottom;
  });
  filterEl.addEventListener("change", function () {
    onlyHost = filterEl.value;
    var all = logEl.children;
    for (var i = 0; i < all.length; i++) all[i].hidden = onlyHost !== "" && all[i].dataset.host !== onlyHost;
    if (followEl.checked) logEl.scrollTop = logEl.scrollHeight;
  });
  followEl.addEventListener("change", function () {
    if (followEl.checked) logEl.scrollTop = logEl.scrollHeight;
  });
  cancelEl.addEventListener("click", function () {
    if (!confirm("Cancel job " + id + "? Its commands are stopped on every host.")) return;
    cancelEl.disabled = true;
    fetch("/api/jobs/" + encodeURIComponent(id) + "/cancel", { method: "POST", credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (b) { if (!r.ok) alert(b.error.message); }); })
      .finally(function () { cancelEl.disabled = false; });
  });
})();
