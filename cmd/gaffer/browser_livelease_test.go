package main

// Tests of web/static/livelease.js: ten pages of one browser share the six
// HTTP/1.1 connections of the origin by holding at most four live streams,
// the pages most recently brought to the front winning; the others poll
// while visible and do nothing while hidden.
//
// How a test puts a page in front or behind, in headless Chromium 156 (see
// the ansi helper's note): chromedp opens each new tab in its own window,
// where it is visible; minimizing its window (Browser.setWindowBounds) makes
// it hidden, restoring it makes it visible and focused again.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/gaffer-dev/gaffer"
)

// liveProbe attaches GafferLive in a page with callbacks that follow the
// job's log for real: start opens an EventSource from the last seq seen,
// stop closes it, poll fetches what is new as NDJSON. It counts what
// happens in window.__live.
const liveProbe = `(function (jobID) {
  var L = window.__live = {holding: false, starts: 0, stops: 0, polls: 0, hiddenPolls: 0, lastSeq: 0, gaps: 0, streamed: 0, polled: 0};
  var es = null;
  function take(rec, how) {
    if (rec.seq <= L.lastSeq) return;
    if (rec.seq !== L.lastSeq + 1) L.gaps++;
    L.lastSeq = rec.seq;
    L[how]++;
  }
  window.__lease = GafferLive.attach({
    start: function () {
      L.holding = true; L.starts++;
      es = new EventSource("/api/jobs/" + jobID + "/log?after=" + L.lastSeq);
      es.addEventListener("line", function (ev) { take(JSON.parse(ev.data), "streamed"); });
    },
    stop: function () {
      L.holding = false; L.stops++;
      es.close(); es = null;
    },
    poll: function () {
      if (document.visibilityState !== "visible") L.hiddenPolls++;
      fetch("/api/jobs/" + jobID + "/log?after=" + L.lastSeq + "&limit=1000", {headers: {Accept: "application/x-ndjson"}})
        .then(function (r) { return r.text(); })
        .then(function (body) {
          body.split("\n").forEach(function (l) { if (l) take(JSON.parse(l), "polled"); });
          L.polls++;
        });
    }
  });
  return true;
})`

type liveState struct {
	Holding     bool  `json:"holding"`
	Starts      int   `json:"starts"`
	Stops       int   `json:"stops"`
	Polls       int   `json:"polls"`
	HiddenPolls int   `json:"hiddenPolls"`
	LastSeq     int64 `json:"lastSeq"`
	Gaps        int   `json:"gaps"`
	Streamed    int   `json:"streamed"`
	Polled      int   `json:"polled"`
	Visible     bool  `json:"visible"`
}

func TestLiveLeaseTenPages(t *testing.T) {
	ts := startServer(t)
	gate := filepath.Join(t.TempDir(), "stop")
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"},
		Command: `i=0; while [ ! -e '` + gate + `' ]; do i=$((i+1)); echo "tick $i"; sleep 0.05; done`})

	b := newBrowser(t)
	b.login(ts)
	pages := []*tab{b}
	for len(pages) < 10 {
		pages = append(pages, b.newTab(t))
	}
	for _, p := range pages {
		p.do(chromedp.Navigate(ts.URL + "/"))
		evalJS[bool](p, `(function () { var s = document.createElement("script"); s.src = "/static/livelease.js"; document.head.appendChild(s); return true; })()`)
		p.waitJS("livelease.js", `typeof GafferLive === "object"`)
		evalJS[bool](p, liveProbe+`(`+strconv.FormatInt(job.ID, 10)+`)`)
	}

	states := func() []liveState {
		out := make([]liveState, len(pages))
		for i, p := range pages {
			s := evalJS[string](p, `JSON.stringify(Object.assign({visible: document.visibilityState === "visible"}, window.__live))`)
			if err := json.Unmarshal([]byte(s), &out[i]); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	holders := func(st []liveState) []int {
		var h []int
		for i, s := range st {
			if s.Holding {
				h = append(h, i)
			}
		}
		return h
	}
	// waitFor polls every page until cond holds; a deadlock guard, not a
	// timing assertion.
	waitFor := func(what string, cond func([]liveState) bool) []liveState {
		t.Helper()
		deadline := time.Now().Add(browserWait)
		for {
			st := states()
			if cond(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: holders %v, pages %+v", what, holders(st), st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	wantHolders := func(want ...int) func([]liveState) bool {
		return func(st []liveState) bool { return reflect.DeepEqual(holders(st), want) }
	}
	// moving waits until every visible page shows lines newer than now:
	// holders from their stream, the others by polling.
	moving := func(what string) {
		t.Helper()
		before := states()
		waitFor(what, func(st []liveState) bool {
			for i, s := range st {
				if s.Visible && s.LastSeq <= before[i].LastSeq+2 {
					return false
				}
			}
			return true
		})
	}
	window := func(i int, state browser.WindowState) {
		t.Helper()
		w, err := chromedp.CallBrowser(b.ctx, browser.GetWindowForTarget, browser.GetWindowForTargetParams{TargetID: chromedp.FromContext(pages[i].ctx).Target.TargetID})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.CallBrowser(b.ctx, browser.SetWindowBounds, browser.SetWindowBoundsParams{WindowID: w.WindowID, Bounds: &browser.Bounds{WindowState: state}}); err != nil {
			t.Fatal(err)
		}
	}

	// Ten visible pages: the four opened last stream, the others poll, and
	// every one of them shows new lines (an eleventh connection would stall).
	waitFor("the four newest pages to hold a stream", wantHolders(6, 7, 8, 9))
	moving("every page to show new lines")

	// Their windows minimized, pages 6-9 are hidden: they give their streams
	// up, and the next most recent visible pages take them.
	for i := 6; i < 10; i++ {
		window(i, browser.WindowStateMinimized)
	}
	waitFor("pages 2-5 to take over", wantHolders(2, 3, 4, 5))
	hiddenAt := states()
	moving("the visible pages to go on")

	// Page 7 shown again comes first: it streams again, from the last seq it
	// showed, and the page longest in front (2) falls back to polling.
	window(7, browser.WindowStateNormal)
	waitFor("page 7 to stream again", wantHolders(3, 4, 5, 7))
	moving("the visible pages after page 7 came back")

	// A page whose log ended lets its slot go.
	evalJS[bool](pages[5], `window.__lease.detach(), true`)
	st := waitFor("page 2 to take page 5's slot", wantHolders(2, 3, 4, 7))
	if st[5].Holding || st[5].Stops != st[5].Starts {
		t.Errorf("detached page 5: %+v", st[5])
	}

	st = states()
	for i, s := range st {
		if s.Gaps != 0 {
			t.Errorf("page %d skipped records %d times: %+v", i, s.Gaps, s)
		}
		if s.HiddenPolls != 0 {
			t.Errorf("page %d polled while hidden: %+v", i, s)
		}
		if n := s.Starts - s.Stops; n != 0 && n != 1 {
			t.Errorf("page %d: %d starts, %d stops", i, s.Starts, s.Stops)
		}
	}
	for _, i := range []int{6, 8, 9} { // hidden since the minimize: no work at all
		if st[i].Polls != hiddenAt[i].Polls || st[i].LastSeq != hiddenAt[i].LastSeq {
			t.Errorf("hidden page %d went on reading: %+v then %+v", i, hiddenAt[i], st[i])
		}
	}
	if st[7].Starts != 2 || st[7].LastSeq <= hiddenAt[7].LastSeq {
		t.Errorf("page 7 did not resume its stream: %+v", st[7])
	}
	var summary []string
	for i, s := range st {
		summary = append(summary, fmt.Sprintf("%d: starts %d polls %d streamed %d polled %d last %d", i, s.Starts, s.Polls, s.Streamed, s.Polled, s.LastSeq))
	}
	sort.Strings(summary)
	t.Logf("pages:\n%s", strings.Join(summary, "\n"))
	for i, p := range pages {
		p.checkClean(fmt.Sprintf("page %d", i))
	}
}

// Ten job pages of one running job open as tabs of one window, as a person
// opens them: whichever is brought to the front shows new lines (from its
// stream, resumed from its last seq), while the hidden ones hold no stream.
func TestLiveJobPagesTen(t *testing.T) {
	ts := startServer(t)
	gate := filepath.Join(t.TempDir(), "stop")
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"},
		Command: `i=0; while [ ! -e '` + gate + `' ]; do i=$((i+1)); echo "tick $i"; sleep 0.05; done`})

	b := newBrowser(t)
	b.login(ts)
	pages := []*tab{b}
	for len(pages) < 10 {
		ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewWindow(false)) // a tab in the same window
		t.Cleanup(cancel)
		if err := chromedp.Do(ctx); err != nil {
			t.Fatalf("open tab: %v", err)
		}
		pages = append(pages, watchTab(t, ctx))
	}

	for _, p := range pages {
		p.openJob(ts, job.ID)
	}
	serverLast := func() int64 {
		t.Helper()
		resp := ts.request(t, "GET", fmt.Sprintf("/api/jobs/%d/log/summary", job.ID), nil)
		defer resp.Body.Close()
		var sum struct {
			LastSeq int64 `json:"last_seq"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&sum); err != nil {
			t.Fatal(err)
		}
		return sum.LastSeq
	}
	type pageState struct {
		Visible bool  `json:"visible"`
		Holding bool  `json:"holding"`
		Stream  int   `json:"stream"`
		LastSeq int64 `json:"lastSeq"`
		Shown   int64 `json:"shown"` // the newest stdout row on screen: its tick number
	}
	read := func(p *tab) pageState {
		var s pageState
		js := `JSON.stringify(Object.assign(gafferViewer.state(), {visible: document.visibilityState === "visible",
		  shown: Math.max.apply(null, [0].concat(Array.prototype.map.call(document.querySelectorAll("#log .line.stdout .text"), function (el) {
		    var m = /^tick (\d+)$/.exec(el.textContent); return m ? Number(m[1]) : 0; })))}))`
		if err := json.Unmarshal([]byte(evalJS[string](p, js)), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, i := range []int{0, 5, 2, 9, 7, 1, 8, 3, 6, 4, 0} {
		before := serverLast()
		if _, err := chromedp.CallBrowser(b.ctx, target.ActivateTarget, target.ActivateTargetParams{TargetID: chromedp.FromContext(pages[i].ctx).Target.TargetID}); err != nil {
			t.Fatal(err)
		}
		var s pageState
		deadline := time.Now().Add(browserWait)
		for {
			s = read(pages[i])
			if s.Visible && s.Holding && s.LastSeq > before+2 && s.Shown > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("page %d in front (server at seq %d): %+v", i, before, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The others are behind it and hold no stream (they give it up as
		// they are hidden; wait for that rather than race it).
		for j, p := range pages {
			if j == i {
				continue
			}
			p.waitJS(fmt.Sprintf("page %d behind page %d to give up its stream", j, i),
				`document.visibilityState === "hidden" && !gafferViewer.state().holding && gafferViewer.state().stream === -1`)
		}
		t.Logf("page %d in front: seq %d, newest row tick %d (server was at %d)", i, s.LastSeq, s.Shown, before)
	}
	for i, p := range pages {
		p.checkClean(fmt.Sprintf("page %d", i))
	}
}
