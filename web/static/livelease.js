// livelease.js decides which pages of this origin may hold a live stream.
//
// A browser opens at most 6 HTTP/1.1 connections per origin; every open
// EventSource keeps one, so the 7th job page (and every fetch after it)
// stalls. The pages of one browser agree over a BroadcastChannel: only
// visible pages hold a stream, at most `max` (4) of them, the ones most
// recently brought to the front (shown or focused) winning. A visible page
// without a stream is asked to poll every ~2 s instead; a hidden page does
// neither. Any page that comes to the front wins a stream at once; the page
// it displaces gives its stream up when the message arrives, so for a moment
// max+1 streams may be open, still under the browser's 6.
//
//   var lease = GafferLive.attach({
//     start: function () { /* open the stream, resuming from the last seq */ },
//     stop:  function () { /* close it */ },
//     poll:  function () { /* fetch what is new (a visible page without a stream) */ }
//   });
//   lease.detach(); // the log ended: give the slot up for good
//
// Over HTTP/2 (gaffer serve --tls-cert or --tls-self-signed, or an h2 proxy)
// every stream shares one connection: the limit is gone, so max defaults to
// 100 (under Go's 250 concurrent streams per connection, leaving room for
// fetches).
//
// Options: max (4, or 100 over HTTP/2), pollMs (2000), channel ("gaffer-live").
var GafferLive = (function () {
  "use strict";

  var BEAT_MS = 1000;   // each page repeats its state this often
  var EXPIRE_MS = 3500; // a page silent this long is gone (closed without pagehide)

  function call(f) {
    if (typeof f !== "function") return;
    try {
      f();
    } catch (e) {
      // A failing callback must not stop the lease: report it on its own.
      setTimeout(function () { throw e; }, 0);
    }
  }

  // multiplexed tells whether this page came over HTTP/2 or HTTP/3.
  function multiplexed() {
    try {
      var nav = performance.getEntriesByType("navigation")[0];
      return !!nav && /^h[23]/.test(nav.nextHopProtocol);
    } catch (e) {
      return false;
    }
  }

  function attach(opts) {
    opts = opts || {};
    var max = opts.max > 0 ? opts.max : multiplexed() ? 100 : 4;
    var pollMs = opts.pollMs > 0 ? opts.pollMs : 2000;
    var id = Math.random().toString(36).slice(2) + "." + Date.now().toString(36);
    var peers = {};    // id -> {since, at}: what the other pages said last
    var since = 0;     // when this page last came to the front; 0 while hidden
    var holding = false, detached = false;
    var pollTimer = null, beatTimer = null, chan = null;

    function visible() {
      return document.visibilityState === "visible";
    }

    function send(hello) {
      if (chan === null) return;
      try {
        chan.postMessage({ t: "state", id: id, since: since, hello: !!hello });
      } catch (e) {
        // a closed channel: nothing to tell
      }
    }

    // decide starts or stops the stream and the polling from what is known:
    // this page holds a stream if it is visible and fewer than max visible
    // pages came to the front after it.
    function decide() {
      if (detached) return;
      var now = Date.now(), ahead = 0;
      for (var k in peers) {
        var p = peers[k];
        if (now - p.at > EXPIRE_MS) { delete peers[k]; continue; }
        if (since > 0 && (p.since > since || (p.since === since && k > id))) ahead++;
      }
      var want = since > 0 && ahead < max;
      if (want && !holding) {
        holding = true;
        call(opts.start);
      } else if (!want && holding) {
        holding = false;
        call(opts.stop);
      }
      var polling = since > 0 && !holding;
      if (polling && pollTimer === null) {
        pollTimer = setInterval(function () {
          if (!holding && visible() && !detached) call(opts.poll);
        }, pollMs);
      } else if (!polling && pollTimer !== null) {
        clearInterval(pollTimer);
        pollTimer = null;
      }
    }

    function toFront() {
      since = visible() ? Math.max(Date.now(), since + 1) : 0;
      send(false);
      decide();
    }

    function onVisibility() {
      toFront();
    }
    function onFocus() {
      if (visible()) toFront();
    }
    function onHide() {
      // Leaving (or into the back/forward cache): free the slot now.
      since = 0;
      send(false);
      decide();
    }
    function onShow() {
      toFront();
    }
    function onMessage(ev) {
      var m = ev.data;
      if (!m || typeof m.id !== "string" || m.id === id) return;
      if (m.t === "state" && typeof m.since === "number") {
        var known = Object.prototype.hasOwnProperty.call(peers, m.id);
        peers[m.id] = { since: m.since, at: Date.now() };
        if (m.hello || !known) send(false); // a new page: tell it about this one
        decide();
      } else if (m.t === "bye") {
        delete peers[m.id];
        decide();
      }
    }

    if (typeof BroadcastChannel === "function") {
      try {
        chan = new BroadcastChannel(opts.channel || "gaffer-live");
        chan.onmessage = onMessage;
      } catch (e) {
        chan = null; // alone: visibility decides
      }
    }
    document.addEventListener("visibilitychange", onVisibility);
    window.addEventListener("focus", onFocus);
    window.addEventListener("pagehide", onHide);
    window.addEventListener("pageshow", onShow);
    beatTimer = setInterval(function () {
      send(false);
      decide();
    }, BEAT_MS);
    since = visible() ? Date.now() : 0;
    send(true);
    decide();

    return {
      holding: function () { return holding; },
      detach: function () {
        if (detached) return;
        since = 0;
        decide(); // stops the stream and the polling
        detached = true;
        clearInterval(beatTimer);
        if (pollTimer !== null) clearInterval(pollTimer);
        document.removeEventListener("visibilitychange", onVisibility);
        window.removeEventListener("focus", onFocus);
        window.removeEventListener("pagehide", onHide);
        window.removeEventListener("pageshow", onShow);
        if (chan !== null) {
          try { chan.postMessage({ t: "bye", id: id }); } catch (e) { /* closed */ }
          chan.close();
          chan = null;
        }
      }
    };
  }

  return { attach: attach };
})();
