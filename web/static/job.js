// The job page: a viewer whose cost does not depend on the log's length.
//
// The page never holds the whole log. It asks the server for the records
// it shows (the tail, a range before or after a seq, the summary, search
// results) and keeps one contiguous "chain" of at most CAP records around
// the view. Rows have a fixed height and never wrap, so a row's position is
// its ordinal times the row height: one scrollbar stands for the whole log,
// scaled down when the log is taller than a browser lets an element be.
// Only the rows on screen (and a margin) are in the DOM.
//
// New records come over one EventSource from the last seq the page knows
// (?after=). A refused stream (503) is closed for good by the browser, so
// the page opens a new one itself, later. A hidden tab closes its stream
// (a browser opens only 6 connections to one server) and resumes from its
// last seq when shown again. Text is only ever inserted as text.
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }
  var root = $("job");
  var jobID = root.dataset.job;
  var base = "/api/jobs/" + encodeURIComponent(jobID) + "/log";
  var scroller = $("scroller"), logEl = $("log"), spacer = $("spacer");
  var followEl = $("follow"), newEl = $("newlines"), connEl = $("conn"), countEl = $("count");
  var filterEl = $("hostfilter"), tsEl = $("tsmode"), statusEl = $("jobstatus"), cancelEl = $("cancel");
  var searchEl = $("search"), searchCountEl = $("searchcount");
  var fileFilterEl = $("filefilter"); // follow jobs only
  var isFollow = root.dataset.follow === "true";

  var MAXPX = 8000000; // scroll height used at most (browsers stop near 16.7 M px)
  var CAP = 20000;     // records kept around the view
  var HALF = 400;      // records fetched on each side of a jump
  var PAGE = 1000;     // records fetched when scrolling past the chain
  var LOOK = 300;      // records before a range read only to seed colour state
  var MARGIN = 20;     // rows rendered above and below the screen
  var RECENT = 50000;  // newest live records kept to join a range to the live end
  var RESYNC = 20000;  // a hidden tab further behind than this re-reads the tail

  // The first reads leave before anything else is set up: the tail (unless
  // a permalink asks for another place) and the summary.
  var permalink = /^#L\d/.test(location.hash);
  var firstTail = permalink ? null : ndjson(base + "?tail=" + (HALF + LOOK)).then(records);
  var firstSummary = getJSON(base + "/summary");
  var ROW = parseFloat(getComputedStyle(logEl).getPropertyValue("--row")) || 20;

  // ---- model ---------------------------------------------------------------

  var lastSeq = 0;        // newest seq this page knows of (any host)
  var dropped = 0;        // seqs up to this are gone (the job's "retain"): row 0 is seq dropped+1
  var received = 0;       // newest seq received from the server (resume point)
  var counts = {};        // filter key (fkey) -> records up to lastSeq
  var fHost = "", fFile = ""; // show only this host's, this file's lines ("": all)
  var filter = "";        // fkey(fHost, fFile): "" when nothing is filtered
  var chain = [];         // contiguous records (of the filter) around the view
  var chainStart = 0;     // ordinal (row) of chain[0]
  var atStart = false;    // chain[0] is the first record
  var atEnd = false;      // chain's last record is the newest: live records join it
  var recent = [], recentFrom = 1; // newest live records, seq recentFrom.. contiguous
  var incoming = [];      // live records not yet applied
  var top = 0;            // ordinal at the top of the screen (fractional)
  var following = true;
  var newLines = 0;       // live rows since following stopped, for "N new lines"
  var selA = 0, selB = 0; // highlighted seq range (permalink)
  var want = 0;           // a seq to bring on screen once loaded
  var loading = 0;        // generation of the range read in flight; 0: none
  var gen = 0;
  var jobStart = root.dataset.started ? Date.parse(root.dataset.started) : 0;
  var tsMode = "";
  var job = null;
  var firstRowsAt = 0, jumpStart = 0, lastJump = 0; // for tests and the curious
  var stats = { live: 0, holes: 0, dups: 0, prev: 0, frames: 0 };

  // The key of a filter in counts: a host's name, "\0file" for a file of
  // every host, "host\0file" for one host's file.
  function fkey(h, f) { return f ? h + "\u0000" + f : h; }
  function count(rec, n) {
    counts[rec.host] = (counts[rec.host] || 0) + n;
    if (!rec.file) return;
    var a = fkey("", rec.file), b = fkey(rec.host, rec.file);
    counts[a] = (counts[a] || 0) + n;
    counts[b] = (counts[b] || 0) + n;
  }
  function total() { return filter ? (counts[filter] || 0) : lastSeq - dropped; }
  function matches(rec) { return (!fHost || rec.host === fHost) && (!fFile || rec.file === fFile); }
  function filterLabel() { return fHost && fFile ? fHost + " · " + fileLabel(fFile) : fHost || fileLabel(fFile); }
  function chainEnd() { return chainStart + chain.length; }
  function lastChainSeq() { return chain.length ? chain[chain.length - 1].seq : 0; }

  // index of the first chain record with seq >= s
  function indexOfSeq(s) {
    var lo = 0, hi = chain.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (chain[mid].seq < s) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  // ---- colour state --------------------------------------------------------
  // Each record remembers the ANSI state of its host and stream before it,
  // computed in order from a look-back of LOOK records read before the
  // chain: colour set further back than that is not seen.

  var A = window.GafferANSI;
  var cur = {};    // host+stream -> state after chain[stUpTo-1]
  var stUpTo = 0;  // chain[0..stUpTo) have .st
  function key(rec) { return rec.host + "\u0000" + rec.stream; }
  function advance(rec, st) {
    if (!A || rec.text.indexOf("\u001b") < 0) return st; // only escapes change it
    return A.after(rec.text, st === undefined ? A.newState() : st);
  }
  function seedStates(seed) {
    var s = {};
    for (var i = 0; i < seed.length; i++) { var k = key(seed[i]); s[k] = advance(seed[i], s[k]); }
    return s;
  }
  function computeStates(upTo) {
    for (; stUpTo < upTo && stUpTo < chain.length; stUpTo++) {
      var rec = chain[stUpTo], k = key(rec);
      rec.st = cur[k];
      cur[k] = advance(rec, cur[k]);
    }
  }
  function textInto(el, rec) {
    // A row is one line high: a newline inside a record (a system line
    // quoting a command of several lines) shows as a space.
    var text = rec.text.indexOf("\n") < 0 ? rec.text : rec.text.replace(/\n/g, " ");
    if (A) { A.render(el, text, rec.st === undefined ? A.newState() : rec.st); return; }
    // Without the colour renderer: plain text, what the last "\r" left.
    var parts = text.split("\r"), t = "";
    for (var i = parts.length - 1; i >= 0 && !t; i--) t = parts[i];
    el.textContent = t.replace(/\x1b\[[0-?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]/g, "");
  }

  // ---- chain edits ---------------------------------------------------------

  function setChain(recs, start, seed, isStart, isEnd) {
    chain = recs;
    chainStart = start;
    atStart = isStart;
    atEnd = isEnd;
    cur = seedStates(seed);
    stUpTo = 0;
    if (!filter && chain.length) chainStart = chain[0].seq - 1 - dropped;
  }

  function trimFront(k) {
    if (k <= 0) return;
    computeStates(k);
    chain.splice(0, k);
    chainStart += k;
    stUpTo -= k;
    atStart = false;
  }

  function trimBack(len) {
    if (chain.length <= len) return;
    chain.length = len;
    atEnd = false;
    if (stUpTo > len) {
      // Rebuild the state after the new end from what the records remember.
      stUpTo = len;
      var seen = {};
      for (var i = len - 1; i >= 0; i--) {
        var k = key(chain[i]);
        if (!seen[k]) { seen[k] = true; cur[k] = advance(chain[i], chain[i].st); }
      }
    }
  }

  function appendLive(rec) {
    if (chain.length && rec.seq <= lastChainSeq()) return;
    chain.push(rec);
    if (chain.length > CAP + CAP / 10) trimFront(chain.length - CAP);
  }

  // The chain reached what the server had when lastSeq was `covered`: join
  // it to the live records received since, if they are all still here.
  function joinLive(covered) {
    if (recentFrom > covered + 1) return false;
    var from = Math.max(covered, lastChainSeq());
    var lo = 0, hi = recent.length;
    while (lo < hi) { var m = (lo + hi) >> 1; if (recent[m].seq <= from) lo = m + 1; else hi = m; }
    for (var i = lo; i < recent.length; i++) if (matches(recent[i])) appendLive(recent[i]);
    atEnd = true;
    fixEnd();
    return true;
  }

  // With a filter, ordinals are estimates; the ends of the log pin them.
  function fixStart() {
    if (!filter || chainStart === 0) return;
    top -= chainStart;
    chainStart = 0;
  }
  function fixEnd() {
    if (!filter) return;
    var s = total() - chain.length;
    if (s < 0) { counts[filter] = chain.length; s = 0; }
    if (s !== chainStart) { top += s - chainStart; chainStart = s; }
  }

  // ---- server reads --------------------------------------------------------

  function query(params) {
    var q = [];
    for (var k in params) if (params[k] !== undefined && params[k] !== "") q.push(k + "=" + encodeURIComponent(params[k]));
    return q.join("&");
  }

  function ndjson(url) {
    return fetch(url, { headers: { Accept: "application/x-ndjson" }, credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.text();
    }).then(function (body) {
      var out = [];
      var lines = body.split("\n");
      for (var i = 0; i < lines.length; i++) {
        if (!lines[i]) continue;
        var o = JSON.parse(lines[i]);
        out.push(o);
      }
      return out;
    });
  }

  function records(list) { return list.filter(function (o) { return typeof o.seq === "number" && typeof o.text === "string"; }); }

  function readLog(params) {
    params.host = fHost || undefined;
    params.file = fFile || undefined;
    return ndjson(base + "?" + query(params)).then(records);
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.json();
    });
  }

  function failed(err) {
    loading = 0;
    connEl.textContent = "could not read the log; retrying";
    console.warn(err);
    setTimeout(schedule, 1000);
  }

  // Read the records around seq s (estimated ordinal ord) into a new chain.
  function anchor(s, ord) {
    var g = loading = ++gen;
    var covered = lastSeq;
    s = Math.max(1, known ? Math.min(s, covered || 1) : s);
    Promise.all([
      readLog({ before: s, limit: HALF + LOOK }),
      readLog({ after: s - 1, limit: HALF }),
    ]).then(function (r) {
      if (g !== loading) return;
      loading = 0;
      var back = r[0], fwd = r[1];
      var isStart = back.length < HALF + LOOK;
      var seed = isStart ? [] : back.slice(0, LOOK);
      var recs = (isStart ? back : back.slice(LOOK)).concat(fwd);
      var start = isStart ? 0 : Math.max(0, Math.round(ord) - (back.length - seed.length));
      setChain(recs, start, seed, isStart, false);
      if (fwd.length < HALF && known) joinLive(covered);
      if (isStart) fixStart();
      schedule();
    }, failed);
  }

  // The newest records, then on with the live ones.
  function loadTail() {
    var g = loading = ++gen;
    var covered = lastSeq;
    readLog({ tail: HALF + LOOK }).then(function (recs) {
      if (g !== loading) return;
      loading = 0;
      var isStart = recs.length < HALF + LOOK;
      var seed = isStart ? [] : recs.slice(0, LOOK);
      setChain(isStart ? recs : recs.slice(LOOK), 0, seed, isStart, false);
      if (!joinLive(covered)) { atEnd = false; }
      if (!filter && !chain.length) chainStart = covered - dropped;
      if (isStart) fixStart();
      if (!filter) fixEnd();
      schedule();
    }, failed);
  }

  function extendForward() {
    var g = loading = ++gen;
    var covered = lastSeq;
    readLog({ after: lastChainSeq(), limit: PAGE }).then(function (recs) {
      if (g !== loading) return;
      loading = 0;
      for (var i = 0; i < recs.length; i++) if (recs[i].seq > lastChainSeq()) chain.push(recs[i]);
      if (recs.length < PAGE) joinLive(covered);
      if (chain.length > CAP) {
        // Keep the part near the view.
        var keep = Math.max(0, Math.floor(top) - chainStart - MARGIN - PAGE);
        trimFront(Math.min(keep, chain.length - CAP));
      }
      schedule();
    }, failed);
  }

  function extendBack() {
    var g = loading = ++gen;
    readLog({ before: chain[0].seq, limit: PAGE + LOOK }).then(function (recs) {
      if (g !== loading) return;
      loading = 0;
      var isStart = recs.length < PAGE + LOOK;
      var seed = isStart ? [] : recs.slice(0, LOOK);
      var add = isStart ? recs : recs.slice(LOOK);
      add = add.filter(function (r) { return r.seq < chain[0].seq; });
      var s = seedStates(seed);
      for (var i = 0; i < add.length; i++) { var k = key(add[i]); add[i].st = s[k]; s[k] = advance(add[i], s[k]); }
      chain = add.concat(chain);
      chainStart -= add.length;
      stUpTo += add.length;
      atStart = isStart;
      if (isStart) fixStart();
      if (!filter && chain.length) chainStart = chain[0].seq - 1 - dropped;
      if (chain.length > CAP) trimBack(Math.max(CAP, Math.ceil(top) - chainStart + 200));
      schedule();
    }, failed);
  }

  // Make sure the chain covers rows [r0, r1), reading what is missing.
  function ensure(r0, r1) {
    if (loading) return;
    var T = total();
    if (T === 0) return;
    if (following && !atEnd) { loadTail(); return; }
    var cs = chainStart, ce = chainEnd();
    var need0 = Math.max(0, r0 - MARGIN), need1 = Math.min(T, r1 + MARGIN);
    var haveStart = atStart || need0 >= cs, haveEnd = atEnd || need1 <= ce;
    if (chain.length && haveStart && haveEnd) return;
    if (chain.length && !haveEnd && haveStart && need0 < ce + PAGE && need1 > cs) { extendForward(); return; }
    if (chain.length && !haveStart && haveEnd && need1 > cs - PAGE && need0 < ce) { extendBack(); return; }
    var mid = (r0 + r1) / 2;
    if (mid >= T - (r1 - r0)) { loadTail(); return; }
    var s = dropped + (filter ? Math.max(1, Math.round(mid / T * (lastSeq - dropped))) : Math.floor(mid) + 1);
    anchor(s, mid);
  }

  // ---- live stream ---------------------------------------------------------

  // incoming holds records, and the JSON text of the stream's records as
  // it came: parsed a frame's worth at a time, in one JSON.parse, which
  // costs far less than one per event at 50 000 lines a second.
  function takeIncoming() {
    var out = [], run = [];
    function parseRun() {
      if (!run.length) return;
      var recs = JSON.parse("[" + run.join(",") + "]");
      for (var j = 0; j < recs.length; j++) out.push(recs[j]);
      run = [];
    }
    for (var i = 0; i < incoming.length; i++) {
      if (typeof incoming[i] === "string") run.push(incoming[i]);
      else { parseRun(); out.push(incoming[i]); }
    }
    parseRun();
    incoming = [];
    return out;
  }

  function applyLive() {
    if (!incoming.length) return;
    var batch = takeIncoming();
    for (var i = 0; i < batch.length; i++) {
      var rec = batch[i];
      if (rec.seq <= lastSeq) { stats.dups++; continue; }
      if (stats.prev && rec.seq !== stats.prev + 1 && !rec.gap) stats.holes++;
      stats.prev = rec.seq;
      stats.live++;
      lastSeq = rec.seq;
      if (rec.host) count(rec, 1);
      if (rec.file && !fileSeen[rec.file]) addFile(rec.file);
      countsVer++;
      recent.push(rec);
      if (!following && matches(rec)) newLines++;
      if (atEnd && matches(rec)) appendLive(rec);
    }
    if (recent.length > RECENT + RECENT / 10) {
      recent.splice(0, recent.length - RECENT);
      recentFrom = recent[0].seq;
    }
  }

  // Which pages hold a stream is decided with the other pages of this
  // browser (livelease.js): a visible page holds one or, when four others
  // came to the front after it, polls; a hidden page does neither.
  var es = null, ended = false, retryDelay = 0, retryTimer = 0, away = false, polling = false, lease = null;
  var RETRY_MIN = 1000, RETRY_MAX = 30000;

  function closeStream() {
    if (es) { es.close(); es = null; }
    clearTimeout(retryTimer);
    retryTimer = 0;
  }

  function start() {
    if (ended) return;
    catchUp().then(function () { if (!ended && lease && lease.holding()) connect(); });
  }

  function stop() {
    closeStream();
    away = true;
    if (ended) return;
    connEl.textContent = document.hidden ? "paused while hidden" : "polling";
    connEl.className = document.hidden ? "conn" : "conn live";
  }

  // Back after a while: far behind, start again from the summary rather
  // than replay everything the server got meanwhile.
  function catchUp() {
    if (!away) return Promise.resolve();
    away = false;
    return getJSON(base + "/summary").then(function (sum) {
      if (sum.last_seq - received > RESYNC) { applySummary(sum, true); schedule(); }
    }).catch(function (err) { console.warn(err); });
  }

  function connect() {
    closeStream();
    if (ended) return;
    // batch=1: a run of records in one lines event, not an event each.
    var url = base + "?batch=1" + (received > 0 ? "&after=" + received : "");
    var s = es = new EventSource(url);
    s.addEventListener("open", function () {
      if (es !== s) return;
      retryDelay = 0;
      connEl.textContent = "live";
      connEl.className = "conn live";
    });
    s.addEventListener("line", function (ev) {
      var n = Number(ev.lastEventId);
      if (n > received) received = n;
      incoming.push(ev.data);
      if (!scheduled) schedule();
    });
    s.addEventListener("lines", function (ev) {
      var n = Number(ev.lastEventId);
      if (n > received) received = n;
      var b = JSON.parse(ev.data), last = b.lines.length - 1;
      for (var i = 0; i <= last; i++) {
        var r = { seq: b.seq + i, ts: b.ts, host: b.host, stream: b.stream, text: b.lines[i], nl: i < last || b.nl };
        if (b.file !== undefined) r.file = b.file;
        if (b.alert) r.alert = true;
        incoming.push(r);
      }
      if (!scheduled) schedule();
    });
    // Records the server lost: a line of its own where they were.
    s.addEventListener("gap", function (ev) {
      var gap = JSON.parse(ev.data);
      if (gap.to > received) received = gap.to;
      incoming.push({ seq: gap.to, host: "", stream: "system gap", text: gap.message, nl: true, gap: true });
      schedule();
    });
    s.addEventListener("status", function (ev) { updateJob(JSON.parse(ev.data)); });
    s.addEventListener("end", function (ev) {
      // Close it ourselves: a closed stream would otherwise be reopened.
      s.close();
      finish(JSON.parse(ev.data).status);
    });
    s.addEventListener("notice", function (ev) { connEl.textContent = JSON.parse(ev.data).message; });
    s.addEventListener("error", function () {
      if (ended || es !== s) return;
      connEl.textContent = "reconnecting…";
      connEl.className = "conn";
      // CONNECTING: the browser retries by itself. CLOSED: it gave up.
      if (s.readyState === EventSource.CLOSED && !retryTimer) {
        retryDelay = retryDelay ? Math.min(retryDelay * 2, RETRY_MAX) : RETRY_MIN;
        retryTimer = setTimeout(connect, retryDelay * (0.5 + Math.random() / 2));
      }
    });
  }

  function finish(status) {
    ended = true;
    if (lease) lease.detach();
    closeStream();
    applyLive();
    connEl.textContent = "finished: " + status;
    connEl.className = "conn";
    root.dataset.ended = "true";
    paint();
  }

  // A visible page without a stream reads what is new in short requests.
  var POLL_LIMIT = 5000;
  function poll() {
    if (ended || polling) return;
    polling = true;
    catchUp().then(function () {
      return Promise.all([
        ndjson(base + "?" + query({ after: received, limit: POLL_LIMIT })).then(records),
        getJSON("/api/jobs/" + encodeURIComponent(jobID)),
      ]);
    }).then(function (r) {
      var recs = r[0];
      for (var i = 0; i < recs.length; i++) if (recs[i].seq > received) { received = recs[i].seq; incoming.push(recs[i]); }
      updateJob(r[1]);
      schedule();
      if (recs.length === POLL_LIMIT) away = true; // see catchUp
      if (recs.length === 0 && ["queued", "running"].indexOf(r[1].status) < 0) {
        return getJSON(base + "/summary").then(function (sum) {
          if (sum.complete && received >= sum.last_seq) finish(r[1].status);
        });
      }
    }).catch(function (err) { console.warn(err); }).then(function () { polling = false; });
  }

  // Counts and the resume point from the summary; far behind, start over
  // from it rather than replay what the server holds.
  // reset: the counts and the resume point start again from the summary
  // (at the start, or a page far behind); the chain, unless it holds the
  // newest records already, no longer reaches the live end.
  function applySummary(sum, reset) {
    if (reset) {
      // A log that dropped its oldest records starts at first_seq: its
      // rows start there. Records the page holds from before go.
      var d = Math.max(0, (sum.first_seq || 1) - 1);
      if (d !== dropped) {
        if (!filter) {
          trimFront(indexOfSeq(d + 1));
          if (chain.length) chainStart = chain[0].seq - 1 - d;
          top = Math.max(0, top - (d - dropped));
        }
        dropped = d;
      }
      counts = {};
      for (var i = 0; i < sum.streams.length; i++) {
        var st = sum.streams[i];
        count(st, st.records);
        if (st.file && !fileSeen[st.file]) addFile(st.file);
      }
      // Records after the summary come again over the stream, to be counted.
      atEnd = atEnd && lastChainSeq() >= sum.last_seq;
      lastSeq = sum.last_seq;
      received = sum.last_seq;
      stats.prev = 0;
      recent = [];
      recentFrom = sum.last_seq + 1;
    }
    known = true;
    summary = sum;
    countsVer++;
    if (!jobStart && sum.first_ts) jobStart = Date.parse(sum.first_ts);
    downloads(sum.streams);
  }
  var known = false; // the summary came: lastSeq and the counts are exact
  var summary = null;

  // ---- rendering -----------------------------------------------------------

  var scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(paint);
  }

  var gutterDigits = 0, lastSt = 0, spacerH = -1, rendered = new Map(), epoch = 0, lastTotal = -1, lastView = -1;

  function viewH() { return scroller.clientHeight; }
  function maxTop() { return Math.max(0, total() - viewH() / ROW); }
  function fullH() { return Math.max(viewH(), Math.min(total() * ROW, MAXPX)); }
  function maxScroll() { return fullH() - viewH(); }
  function scaled() { return total() * ROW > MAXPX; }
  function topToSt(t) { var m = maxTop(); return m > 0 ? t / m * maxScroll() : 0; }
  function stToTop(s) { var m = maxScroll(); return m > 0 ? s / m * maxTop() : 0; }

  function setScroll(s) {
    s = Math.round(s);
    if (Math.abs(scroller.scrollTop - s) >= 1) scroller.scrollTop = s;
    lastSt = scroller.scrollTop;
  }

  scroller.addEventListener("scroll", function () {
    var s = scroller.scrollTop;
    if (s === lastSt) return;
    var d = s - lastSt;
    lastSt = s;
    // A wheel or key moves by rows, exactly; a drag of the scrollbar (a
    // large move) goes to the place it stands for.
    if (scaled() && Math.abs(d) < viewH() * 2) top += d / ROW; else top = stToTop(s);
    var mt = maxTop();
    if (s <= 0) top = 0;
    if (s >= maxScroll() - 1) top = mt;
    top = Math.max(0, Math.min(top, mt));
    setFollowing(top >= mt - 0.5);
    schedule();
  }, { passive: true });

  function setFollowing(on) {
    if (on === following) return;
    following = on;
    followEl.checked = on;
    newLines = 0;
  }

  function paint() {
    scheduled = false;
    stats.frames++;
    applyLive();
    var T = total(), vh = viewH();
    var h = fullH() - vh;
    if (h !== spacerH) { spacer.style.height = h + "px"; spacerH = h; }
    var mt = maxTop();
    if (want) bringWant();
    if (following) top = mt;
    top = Math.max(0, Math.min(top, mt));
    if (following || T !== lastTotal || vh !== lastView) setScroll(topToSt(top));
    lastTotal = T;
    lastView = vh;
    hostLabels();
    var digits = String(Math.max(lastSeq, 999)).length;
    if (digits !== gutterDigits) { gutterDigits = digits; logEl.style.setProperty("--gutter", (digits + 2) + "ch"); }

    var first = Math.floor(top);
    var r0 = Math.max(0, first - MARGIN), r1 = Math.min(T, first + Math.ceil(vh / ROW) + 1 + MARGIN);
    ensure(first, Math.min(T, first + Math.ceil(vh / ROW) + 1));
    computeStates(Math.min(chain.length, r1 - chainStart));

    var next = new Map(), els = [];
    for (var r = r0; r < r1; r++) {
      var i = r - chainStart, rec = i >= 0 && i < chain.length ? chain[i] : null;
      var k = rec ? "s" + rec.seq : "p" + r;
      var el = rendered.get(k);
      if (!el || el._epoch !== epoch) el = rec ? row(rec) : placeholder(r);
      el._epoch = epoch;
      next.set(k, el);
      els.push(el);
    }
    var same = els.length === logEl.children.length;
    for (var j = 0; same && j < els.length; j++) same = logEl.children[j] === els[j];
    if (!same) keepRows(els);
    rendered = next;
    if (!firstRowsAt && chain.length && els.length) firstRowsAt = performance.now();
    if (curHit && !hitFirst && !want && rendered.has("s" + curHit)) { hitFirst = performance.now(); searchEvent(searchGen, "shown"); }
    logEl.style.transform = "translateY(" + ((r0 - top) * ROW) + "px)";
    markSelection();

    newEl.hidden = following || !newLines;
    if (!newEl.hidden) newEl.textContent = fmt(newLines) + " new line" + (newLines === 1 ? "" : "s") + " ↓";
    var a = Math.min(T, first + 1), b = Math.min(T, Math.floor(top + vh / ROW));
    countEl.textContent = T ? (filter ? filterLabel() + ": " : "") + "rows " + fmt(a) + "–" + fmt(b) + " of " + fmt(T) : "no output yet";
    if (loading) countEl.textContent += " · loading…";
    if (want || incoming.length) schedule();
  }

  // Makes els the log's rows, leaving the rows that stay where they are:
  // a row taken out and put back loses a click under way or a text
  // selection in it, and a repaint can come between mousedown and mouseup.
  function keepRows(els) {
    var keep = new Set(els);
    for (var c = logEl.firstChild; c;) {
      var nx = c.nextSibling;
      if (!keep.has(c)) logEl.removeChild(c);
      c = nx;
    }
    var at = logEl.firstChild;
    for (var j = 0; j < els.length; j++) {
      if (at === els[j]) at = at.nextSibling;
      else logEl.insertBefore(els[j], at);
    }
  }

  // 1,234,567 (Intl.NumberFormat costs 150 ms to make on a first paint).
  function fmt(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

  var hostIndex = {};
  Array.prototype.forEach.call(filterEl.options, function (o, i) { if (o.value) hostIndex[o.value] = i - 1; });

  function row(rec) {
    var el = document.createElement("div");
    var stream = rec.stream === "system gap" ? "system gap" : rec.stream;
    el.className = "line " + stream + (rec.nl === false ? " nonl" : "") + (rec.alert ? " alert" : "");
    el.dataset.seq = rec.seq;
    el.dataset.host = rec.host;
    var ln = document.createElement("a");
    ln.className = "ln";
    ln.dataset.ln = rec.seq;
    ln.href = "#L" + rec.seq;
    el.appendChild(ln);
    if (tsMode) {
      var ts = document.createElement("span");
      ts.className = "ts";
      ts.dataset.ts = stamp(rec.ts);
      el.appendChild(ts);
    }
    var host = document.createElement("span");
    host.className = "host h" + ((hostIndex[rec.host] || 0) % 8);
    host.dataset.host = rec.host;
    el.appendChild(host);
    if (isFollow) {
      // Drawn from attributes like the host: the path is never markup.
      var file = document.createElement("span");
      file.className = "file";
      file.dataset.file = rec.file ? fileLabel(rec.file) : "";
      if (rec.file) file.title = rec.file;
      el.appendChild(file);
    }
    var text = document.createElement("span");
    text.className = "text";
    textInto(text, rec);
    if (hitRE) highlight(text);
    if (rec.seq === curHit) el.classList.add("current");
    el.appendChild(text);
    return el;
  }

  function placeholder(r) {
    var el = document.createElement("div");
    el.className = "line pending";
    if (!filter) {
      var ln = document.createElement("a");
      ln.className = "ln";
      ln.dataset.ln = r + 1 + dropped;
      el.appendChild(ln);
    }
    return el;
  }

  function pad(n, w) { n = String(n); while (n.length < w) n = "0" + n; return n; }
  function stamp(ts) {
    if (!ts) return "";
    var t = Date.parse(ts);
    var frac = /\.(\d{1,3})/.exec(ts);
    var ms = frac ? Number((frac[1] + "00").slice(0, 3)) : 0;
    if (tsMode === "rel") {
      var d = t - jobStart;
      if (!jobStart || isNaN(d)) return "";
      var sign = d < 0 ? "-" : "+";
      d = Math.abs(d);
      var h = Math.floor(d / 3600000), m = Math.floor(d / 60000) % 60, s = Math.floor(d / 1000) % 60;
      return sign + (h ? h + ":" + pad(m, 2) : pad(m, 2)) + ":" + pad(s, 2) + "." + pad(d % 1000, 3);
    }
    var dt = new Date(t);
    return pad(dt.getHours(), 2) + ":" + pad(dt.getMinutes(), 2) + ":" + pad(dt.getSeconds(), 2) + "." + pad(ms, 3);
  }

  function markSelection() {
    var lo = Math.min(selA, selB || selA), hi = Math.max(selA, selB || selA);
    for (var i = 0; i < logEl.children.length; i++) {
      var el = logEl.children[i], s = Number(el.dataset.seq);
      var on = selA > 0 && s >= lo && s <= hi;
      if (el.classList.contains("hl") !== on) el.classList.toggle("hl", on);
    }
  }

  function rerender() { epoch++; schedule(); }

  // ---- jumps and permalinks -------------------------------------------------

  // Bring seq s on screen, a third of the way down, once it is loaded.
  function jumpTo(s) {
    want = s;
    jumpStart = performance.now();
    setFollowing(false);
    if (!bringWant()) {
      var ord = Math.max(0, filter ? Math.round((s - dropped) / Math.max(1, lastSeq - dropped) * total()) : s - 1 - dropped);
      loading = 0; // a newer read wins
      anchor(s, ord);
    }
    schedule();
  }

  function bringWant() {
    if (!want || !chain.length || !known) return false;
    var i = indexOfSeq(want);
    // A seq the log no longer has (its "retain" dropped it) brings its first.
    if (i >= chain.length || (chain[i].seq !== want && !(i > 0 && chain[i - 1].seq < want && chain[i].seq > want) && !(i === 0 && atStart))) return false;
    var rows = viewH() / ROW;
    top = Math.max(0, Math.min(chainStart + i - Math.floor(rows / 3), maxTop()));
    want = 0;
    if (jumpStart) { lastJump = performance.now() - jumpStart; jumpStart = 0; }
    setFollowing(top >= maxTop() - 0.5 && atEnd);
    setScroll(topToSt(top));
    return true;
  }

  function parseHash() {
    var m = /^#L(\d+)(?:-L?(\d+))?$/.exec(location.hash);
    if (!m) return null;
    var a = Number(m[1]), b = m[2] ? Number(m[2]) : 0;
    return a > 0 ? { a: a, b: b } : null;
  }

  function openHash() {
    var h = parseHash();
    if (!h) return false;
    selA = h.a;
    selB = h.b;
    jumpTo(Math.min(h.a, h.b || h.a));
    return true;
  }
  window.addEventListener("hashchange", openHash);

  logEl.addEventListener("click", function (ev) {
    var ln = ev.target.closest ? ev.target.closest("a.ln") : null;
    if (!ln || !ln.dataset.ln) return;
    ev.preventDefault();
    var s = Number(ln.dataset.ln);
    if (ev.shiftKey && selA) {
      selB = s;
      if (selB === selA) selB = 0;
    } else {
      selA = s;
      selB = 0;
    }
    var lo = Math.min(selA, selB || selA), hi = Math.max(selA, selB || selA);
    history.replaceState(null, "", lo === hi ? "#L" + lo : "#L" + lo + "-L" + hi);
    if (selB) { selA = lo; selB = hi; }
    markSelection();
  });

  // ---- search --------------------------------------------------------------

  // The server streams a search's matches as it finds them (NDJSON, then a
  // trailer line): the page shows the first match when it arrives, not when
  // the whole log is scanned. A new search aborts the one still running.
  var hits = [], hitCount = 0, hitDone = true, hitMore = false, hitIdx = -1, curHit = 0, hitRE = null, searchGen = 0;
  var hitAbort = null, hitFirst = 0;
  var HIT_CAP = 100000;
  // For tests: what the searches did, in order ({search, ev, count, at}).
  var searchEvents = [];
  function searchEvent(g, ev) {
    if (searchEvents.length >= 200) searchEvents.shift();
    searchEvents.push({ search: g, ev: ev, count: searchCountEl.textContent, at: performance.now() });
  }

  function clientRE(q, regex, cs) {
    try { return new RegExp(regex ? q : q.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), cs ? "g" : "gi"); } catch (e) { return null; }
  }

  // Calls each(line) for every whole line of an NDJSON body as it arrives,
  // then chunk() once per chunk read (so the page redraws per chunk, not per line).
  function readNDJSON(body, each, chunk) {
    var reader = body.getReader(), dec = new TextDecoder(), rest = "";
    function step() {
      return reader.read().then(function (x) {
        var s = rest + (x.done ? dec.decode() : dec.decode(x.value, { stream: true }));
        var lines = s.split("\n");
        rest = x.done ? "" : lines.pop();
        for (var i = 0; i < lines.length; i++) if (lines[i]) each(lines[i]);
        chunk();
        return x.done ? undefined : step();
      });
    }
    return step();
  }

  function runSearch() {
    var q = searchEl.value;
    var g = ++searchGen;
    if (hitAbort) { hitAbort.abort(); hitAbort = null; }
    if (!hitDone) searchEvent(g - 1, "abort");
    hits = []; hitCount = 0; hitIdx = -1; curHit = 0; hitDone = false; hitMore = false; hitFirst = 0;
    if (!q) { hitRE = null; hitDone = true; searchCountEl.textContent = ""; rerender(); return; }
    var regex = $("searchregex").checked, cs = $("searchcase").checked;
    hitRE = clientRE(q, regex, cs);
    searchCountEl.textContent = "searching…";
    searchCountEl.className = "searchcount";
    searchEvent(g, "start " + q);
    function page(after) {
      var url = base + "/search?" + query({ q: q, regex: regex ? 1 : "", "case": cs ? 1 : "", host: fHost, file: fFile, after: after, limit: 1000 });
      var ctl = hitAbort = new AbortController();
      var from = hitCount, got = 0, trailer = null;
      fetch(url, { credentials: "same-origin", signal: ctl.signal }).then(function (r) {
        if (!r.ok) {
          return r.text().then(function (body) {
            var msg = "search failed";
            try { msg = JSON.parse(body).error.message; } catch (e) { /* not JSON */ }
            throw new Error(msg);
          });
        }
        return readNDJSON(r.body, function (line) {
          if (g !== searchGen) return;
          var o = JSON.parse(line);
          if (typeof o.seq === "number") {
            got++;
            hitCount = from + got;
            if (hits.length < HIT_CAP) hits.push(o.seq);
            if (hitIdx < 0) { hitIdx = 0; goHit(); searchEvent(g, "match"); }
          } else if (o.error) {
            throw new Error(o.error.message || "search failed");
          } else if ("scanned_to" in o) {
            trailer = o;
          }
        }, function () { if (g === searchGen) showCount(); });
      }).then(function () {
        if (g !== searchGen) return;
        if (!trailer) throw new Error("search cut short: try again");
        hitCount = from + trailer.matches;
        searchEvent(g, "trailer");
        hitMore = !trailer.done;
        hitDone = trailer.done || hits.length >= HIT_CAP;
        if (hitDone) hitAbort = null;
        showCount();
        if (hitDone) searchEvent(g, "done");
        else page(trailer.scanned_to);
      }).catch(function (err) {
        if (g !== searchGen) return; // aborted by a newer search
        hitDone = true;
        hitAbort = null;
        searchCountEl.textContent = err.message;
        searchCountEl.className = "searchcount bad";
        searchEvent(g, "error");
      });
    }
    page(0);
  }

  // "3 of 12…" while the log is being scanned; "3 of 12" once it all was;
  // "3 of 100,000+" when the page stopped at HIT_CAP.
  function showCount() {
    if (!hitCount) { searchCountEl.textContent = hitDone ? "no matches" : "searching…"; return; }
    var more = !hitDone ? "…" : hitMore ? "+" : "";
    searchCountEl.textContent = (hitIdx >= 0 ? fmt(hitIdx + 1) + " of " : "") + fmt(hitCount) + more;
  }

  function goHit() {
    if (hitIdx < 0 || hitIdx >= hits.length) return;
    curHit = hits[hitIdx];
    showCount();
    rerender();
    jumpTo(curHit);
  }

  function moveHit(d) {
    if (!hits.length) return;
    hitIdx = (hitIdx + d + hits.length) % hits.length;
    goHit();
  }

  // Marks the matches in a rendered row, text node by text node.
  function highlight(el) {
    var walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    var nodes = [];
    for (var n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);
    var any = false;
    nodes.forEach(function (node) {
      var s = node.nodeValue, m, last = 0, frag = null;
      hitRE.lastIndex = 0;
      while ((m = hitRE.exec(s)) !== null) {
        if (m[0] === "") { hitRE.lastIndex++; continue; }
        frag = frag || document.createDocumentFragment();
        frag.appendChild(document.createTextNode(s.slice(last, m.index)));
        var mark = document.createElement("mark");
        mark.textContent = m[0];
        frag.appendChild(mark);
        last = m.index + m[0].length;
        any = true;
      }
      if (frag) {
        frag.appendChild(document.createTextNode(s.slice(last)));
        node.parentNode.replaceChild(frag, node);
      }
    });
    return any;
  }

  var searchTimer = 0;
  searchEl.addEventListener("input", function () { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 250); });
  searchEl.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") {
      ev.preventDefault();
      if (searchTimer) { clearTimeout(searchTimer); searchTimer = 0; runSearch(); return; }
      moveHit(ev.shiftKey ? -1 : 1);
    } else if (ev.key === "Escape") {
      searchEl.blur();
      scroller.focus();
    }
  });
  $("searchregex").addEventListener("change", runSearch);
  $("searchcase").addEventListener("change", runSearch);
  $("searchnext").addEventListener("click", function () { moveHit(1); });
  $("searchprev").addEventListener("click", function () { moveHit(-1); });
  document.addEventListener("keydown", function (ev) {
    if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && (ev.key === "f" || ev.key === "F")) {
      ev.preventDefault();
      searchEl.focus();
      searchEl.select();
    }
  });

  // ---- tools ---------------------------------------------------------------

  function firstVisibleSeq() {
    var i = Math.floor(top) - chainStart;
    if (i >= 0 && i < chain.length) return chain[i].seq;
    return filter ? 0 : Math.floor(top) + 1 + dropped;
  }

  // Where "next … below" starts looking: after the selected line if it is
  // on screen or below, else after the line above the screen.
  function nextFrom() { return Math.max(selA && selA >= firstVisibleSeq() ? selA : firstVisibleSeq() - 1, 0); }
  function goLine(s) {
    selA = s; selB = 0;
    history.replaceState(null, "", "#L" + selA);
    jumpTo(selA);
  }

  if ($("nexterr")) $("nexterr").addEventListener("click", function () {
    var btn = this;
    btn.disabled = true;
    ndjson(base + "?" + query({ stream: "stderr", host: fHost, file: fFile, after: nextFrom(), limit: 1 })).then(records).then(function (recs) {
      if (!recs.length) { flash(btn, "no stderr below"); return; }
      goLine(recs[0].seq);
    }).catch(function (err) { console.warn(err); }).then(function () { btn.disabled = false; });
  });

  // The next alert: a server search for the job's alert patterns (as the
  // server matches them: RE2, case-sensitive), keeping the records it
  // marked (the server's own lines match no alert).
  if ($("nextalert")) $("nextalert").addEventListener("click", function () {
    var btn = this, pats = (job && job.alerts || []).map(function (a) { return "(?:" + a.pattern + ")"; });
    if (!pats.length) return;
    btn.disabled = true;
    var pages = 0;
    function page(after) {
      var url = base + "/search?" + query({ q: pats.join("|"), regex: 1, "case": 1, host: fHost, file: fFile, after: after, limit: 50 });
      return ndjson(url).then(function (list) {
        var tr = null;
        for (var i = 0; i < list.length; i++) {
          var o = list[i];
          if (typeof o.seq === "number" && o.alert) { goLine(o.seq); return; }
          if ("scanned_to" in o) tr = o;
        }
        if (tr && !tr.done && ++pages < 20) return page(tr.scanned_to);
        flash(btn, tr && !tr.done ? "no alert nearby" : "no alert below");
      });
    }
    page(nextFrom()).catch(function (err) { console.warn(err); }).then(function () { btn.disabled = false; });
  });

  function flash(btn, msg) {
    var old = btn.textContent;
    btn.textContent = msg;
    setTimeout(function () { btn.textContent = old; }, 1500);
  }

  followEl.addEventListener("change", function () {
    setFollowing(followEl.checked);
    schedule();
  });
  newEl.addEventListener("click", function () { setFollowing(true); schedule(); });

  function setFilter(h, f) {
    if (h === fHost && f === fFile) return;
    fHost = h; fFile = f;
    filter = fkey(h, f);
    filterEl.value = h;
    if (fileFilterEl) fileFilterEl.value = f;
    gen++; loading = 0;
    var keep = firstVisibleSeq();
    chain = []; atStart = atEnd = false; chainStart = 0;
    if (hitRE) runSearch();
    if (following || !keep) { schedule(); return; }
    jumpTo(keep);
  }
  filterEl.addEventListener("change", function () { setFilter(filterEl.value, fFile); });
  if (fileFilterEl) fileFilterEl.addEventListener("change", function () { setFilter(fHost, fileFilterEl.value); });
  $("runs").addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a.hostlink") : null;
    if (!a) return;
    ev.preventDefault();
    setFilter(fHost === a.dataset.host ? "" : a.dataset.host, fFile);
  });

  tsMode = localStorage.getItem("gaffer.ts") || "";
  tsEl.value = tsMode;
  root.dataset.ts = tsMode;
  tsEl.addEventListener("change", function () {
    tsMode = tsEl.value;
    root.dataset.ts = tsMode;
    try { localStorage.setItem("gaffer.ts", tsMode); } catch (e) { /* private mode */ }
    rerender();
  });

  function downloads(streams) {
    var menu = $("downloads");
    menu.querySelectorAll("a.raw").forEach(function (a) { a.remove(); });
    var order = { stdout: 0, stderr: 1 };
    // A follow job's lines come per file: one download per host and file.
    streams.slice().sort(function (a, b) {
      var fa = a.file || "", fb = b.file || "";
      return a.host < b.host ? -1 : a.host > b.host ? 1 : fa < fb ? -1 : fa > fb ? 1 : (order[a.stream] || 0) - (order[b.stream] || 0);
    }).forEach(function (st) {
      if (st.stream === "system" || !st.records) return;
      var a = document.createElement("a");
      a.className = "raw";
      a.href = base + "?" + query({ format: "raw", host: st.host, stream: st.stream, file: st.file, download: 1 });
      a.setAttribute("download", "job-" + jobID + "-" + st.host + "." + (st.file ? baseName(st.file) : st.stream) + ".txt");
      a.textContent = st.host + " " + (st.file || st.stream) + " (raw, " + fmtBytes(st.bytes) + ")";
      menu.appendChild(a);
    });
  }
  // Opened, the menu lists the streams and files as they are now.
  $("downloads").parentNode.addEventListener("toggle", function (ev) {
    if (ev.target.open) getJSON(base + "/summary").then(function (sum) { downloads(sum.streams); }, function (err) { console.warn(err); });
  });
  function fmtBytes(n) {
    if (n < 1024) return n + " B";
    var u = ["KiB", "MiB", "GiB", "TiB"], i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
    return n.toFixed(n < 10 ? 1 : 0) + " " + u[i];
  }

  scroller.addEventListener("keydown", function (ev) {
    if (ev.target !== scroller) return;
    var rows = Math.floor(viewH() / ROW) - 1, d = 0;
    switch (ev.key) {
      case "ArrowDown": d = 1; break;
      case "ArrowUp": d = -1; break;
      case "PageDown": case " ": d = rows; break;
      case "PageUp": d = -rows; break;
      case "Home": top = 0; setFollowing(false); break;
      case "End": setFollowing(true); break;
      default: return;
    }
    ev.preventDefault();
    top = Math.max(0, Math.min(top + d, maxTop()));
    if (d) setFollowing(top >= maxTop() - 0.5);
    setScroll(topToSt(top));
    schedule();
  });
  window.addEventListener("resize", schedule);
  // The log's height follows the page above it (runs table, fonts).
  if (window.ResizeObserver) new ResizeObserver(function () { schedule(); }).observe(scroller);

  // ---- job status ------------------------------------------------------------

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

  function exitText(run) {
    var exit = run.exit_code !== null && run.exit_code !== undefined ? String(run.exit_code) : "";
    if (run.signal) exit = "signal " + run.signal;
    return exit;
  }

  function updateJob(j) {
    job = j;
    if (!jobStart && j.started_at) jobStart = Date.parse(j.started_at);
    setStatus(statusEl, j.status);
    cancelEl.hidden = ["queued", "running"].indexOf(j.status) < 0;
    var body = $("runs");
    j.runs.forEach(function (run) {
      var tr = body.querySelector('tr[data-host="' + CSS.escape(run.host) + '"]');
      if (!tr) return;
      setStatus(tr.children[1].firstChild, run.status);
      tr.children[2].textContent = exitText(run);
      tr.children[3].textContent = duration(run);
      tr.children[4].textContent = run.error || "";
    });
    hostLabels();
    followPanel(j);
    webhookPanel(j);
  }

  // The host filter and the runs table show each host's lines and exit.
  var labelsShown = "", countsVer = 0;
  function hostLabels() {
    var runs = job ? job.runs : [];
    var sig = countsVer + JSON.stringify(runs.map(exitText)) + "/" + filesVer + "/" + fHost;
    if (sig === labelsShown) return;
    labelsShown = sig;
    var byHost = {};
    runs.forEach(function (r) { byHost[r.host] = r; });
    Array.prototype.forEach.call(filterEl.options, function (o) {
      if (!o.value) { o.textContent = "all hosts · " + fmt(lastSeq - dropped); return; }
      var r = byHost[o.value], ex = r ? exitText(r) : "";
      o.textContent = o.value + " · " + fmt(counts[o.value] || 0) + (ex ? " · exit " + ex : r && r.status !== "running" && r.status !== "queued" ? " · " + r.status : "");
    });
    $("runs").querySelectorAll("tr").forEach(function (tr) {
      var c = tr.querySelector("td.lines");
      if (c) c.textContent = fmt(counts[tr.dataset.host] || 0);
    });
    fileOptions();
  }

  // ---- followed files ------------------------------------------------------
  // A follow job's files as its records and the summary name them. A row
  // shows a file by its base name, or by its last two parts where two
  // files share a base name; the filter lists whole paths.

  var fileSeen = {}, files = [], fileLabels = {}, filesVer = 0, optionsVer = -1;
  function baseName(p) { return p.replace(/\/+$/, "").split("/").pop() || p; }
  function lastTwo(p) { return p.replace(/\/+$/, "").split("/").slice(-2).join("/"); }
  function fileLabel(p) { return fileLabels[p] || baseName(p); }
  function addFile(p) {
    if (fileSeen[p]) return;
    fileSeen[p] = true;
    files.push(p);
    files.sort();
    var byBase = {}, changed = false;
    files.forEach(function (f) { var b = baseName(f); byBase[b] = (byBase[b] || 0) + 1; });
    files.forEach(function (f) {
      var l = byBase[baseName(f)] > 1 ? lastTwo(f) : baseName(f);
      if (fileLabels[f] !== undefined && fileLabels[f] !== l) changed = true;
      fileLabels[f] = l;
    });
    filesVer++;
    if (changed) rerender();
  }

  // The file filter's options: every file, with its lines (of the host
  // chosen, if one is).
  function fileOptions() {
    if (!fileFilterEl) return;
    if (optionsVer !== filesVer) {
      optionsVer = filesVer;
      var opts = [fileFilterEl.options[0]];
      files.forEach(function (f) {
        var o = document.createElement("option");
        o.value = f;
        opts.push(o);
      });
      fileFilterEl.replaceChildren.apply(fileFilterEl, opts);
      fileFilterEl.value = fFile;
    }
    Array.prototype.forEach.call(fileFilterEl.options, function (o) {
      o.textContent = o.value ? o.value + " · " + fmt(counts[fkey(fHost, o.value)] || 0) : "all files";
    });
  }

  function clock(ts) {
    var t = new Date(ts);
    if (isNaN(t)) return "";
    var s = pad(t.getHours(), 2) + ":" + pad(t.getMinutes(), 2) + ":" + pad(t.getSeconds(), 2);
    if (new Date().toDateString() !== t.toDateString()) s = t.getFullYear() + "-" + pad(t.getMonth() + 1, 2) + "-" + pad(t.getDate(), 2) + " " + s;
    return s;
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  // Each host's connection and files, from the runs' follow state (status
  // events): following, reconnecting since …, file missing since ….
  var FILE_WORDS = { following: "following", missing: "file missing", rotated: "rotated: reading to its end", error: "cannot read" };
  function followPanel(j) {
    var body = $("followstate");
    if (!body) return;
    var rows = [];
    j.runs.forEach(function (run) {
      var f = run.follow, active = ["queued", "running"].indexOf(run.status) >= 0;
      var conn = active && f ? f.state : run.status, connText = conn;
      if (active && f && f.state === "reconnecting") connText = "reconnecting" + (f.since ? " since " + clock(f.since) : "") + (f.message ? ": " + f.message : "");
      var list = f && f.files && f.files.length ? f.files : [null];
      list.forEach(function (file, i) {
        var tr = document.createElement("tr");
        tr.dataset.host = run.host;
        cell(tr, i ? "" : run.host, "host");
        cell(tr, i ? "" : connText, "conn fs-" + conn);
        if (!file) { cell(tr, "", "path"); cell(tr, "", ""); rows.push(tr); return; }
        tr.dataset.path = file.path;
        cell(tr, file.path, "path");
        var st = (FILE_WORDS[file.state] || file.state) + (file.state !== "following" && file.since ? " since " + clock(file.since) : "") +
          (file.message ? ": " + file.message : "");
        cell(tr, st, "fs-" + file.state);
        rows.push(tr);
      });
    });
    body.replaceChildren.apply(body, rows);
  }

  // The alerts' webhooks, when one fails or lost alerts.
  function webhookPanel(j) {
    var el = $("webhooks");
    var bad = (j.webhooks || []).filter(function (w) { return w.failing_since || w.dropped; });
    el.hidden = !bad.length;
    el.replaceChildren.apply(el, bad.map(function (w) {
      var p = document.createElement("p");
      p.className = w.failing_since ? "failing" : "";
      p.textContent = "Webhook " + w.webhook + (w.failing_since ? " failing since " + clock(w.failing_since) + (w.last_error ? " (" + w.last_error + ")" : "") : " delivering again") +
        " · " + fmt(w.sent) + " sent, " + fmt(w.pending) + " waiting" + (w.dropped ? ", " + fmt(w.dropped) + " dropped" : "");
      return p;
    }));
  }
  setInterval(function () { if (!document.hidden) hostLabels(); }, 1000);

  // A follow job's files change state without a line in the log (a file
  // that appears is followed quietly): a visible page reads the job anew
  // every few seconds, besides the status events.
  var FOLLOW_POLL = 5000, followPolling = false;
  if (isFollow) setInterval(function () {
    if (document.hidden || ended || followPolling || (job && ["queued", "running"].indexOf(job.status) < 0)) return;
    followPolling = true;
    getJSON("/api/jobs/" + encodeURIComponent(jobID)).then(updateJob, function (err) { console.warn(err); })
      .then(function () { followPolling = false; });
  }, FOLLOW_POLL);

  cancelEl.addEventListener("click", function () {
    if (!confirm("Cancel job " + jobID + "? Its commands are stopped on every host.")) return;
    cancelEl.disabled = true;
    fetch("/api/jobs/" + encodeURIComponent(jobID) + "/cancel", { method: "POST", credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (b) { if (!r.ok) alert(b.error.message); }); })
      .finally(function () { cancelEl.disabled = false; });
  });

  // ---- start -----------------------------------------------------------------

  // Tests and curious people: the page's model, read-only.
  window.gafferViewer = {
    state: function () {
      return { lastSeq: lastSeq, total: total(), top: top, following: following, filter: filter, host: fHost, file: fFile,
        chainFirst: chain.length ? chain[0].seq : 0, chainLast: lastChainSeq(), chainLen: chain.length,
        atStart: atStart, atEnd: atEnd, loading: !!loading, want: want, rows: logEl.children.length,
        scaled: scaled(), firstRowsAt: firstRowsAt, lastJump: lastJump, ended: ended, settled: !scheduled && !loading && !want && !incoming.length, stream: es ? es.readyState : -1, holding: !!(lease && lease.holding()), hits: hitCount, hitsDone: hitDone, hitsFirst: hitFirst };
    },
    stats: function () { return stats; },
    chainSeqs: function () { return chain.map(function (r) { return r.seq; }); },
    searchEvents: function () { return searchEvents.slice(); },
    jumpTo: function (s) { jumpTo(s); },
  };

  // Open at the newest lines (or the permalink): the tail (or the range
  // around the permalink) and the summary are read at once; the stream
  // starts right after the summary, so that the counts stay exact.
  connEl.textContent = "connecting…";
  openHash();
  if (firstTail) {
    var g0 = loading = ++gen;
    firstTail.then(function (recs) {
      if (g0 !== loading) return;
      loading = 0;
      var isStart = recs.length < HALF + LOOK;
      setChain(isStart ? recs : recs.slice(LOOK), 0, isStart ? [] : recs.slice(0, LOOK), isStart, true);
      if (!known && chain.length) lastSeq = lastChainSeq();
      if (known && lastChainSeq() < lastSeq) atEnd = false; // the summary is newer: read again
      paint(); // now: the first frame of a loading page can come late
    }, function (err) { if (g0 === loading) loading = 0; console.warn(err); });
  }
  firstSummary.then(function (sum) {
    applySummary(sum, true);
  }, function (err) {
    // No summary: read the log from its start over the stream.
    console.warn(err);
    known = true;
    gen++;
    loading = 0;
    chain = [];
    chainStart = 0;
    lastSeq = received = 0;
    atEnd = atStart = true;
  }).then(function () {
    schedule();
    if (window.GafferLive) lease = GafferLive.attach({ start: start, stop: stop, poll: poll });
    else connect();
  });
})();
