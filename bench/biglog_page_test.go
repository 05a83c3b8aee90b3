package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The job page of the 10 M-line job in a real Chromium: time to the first
// lines on screen, the tab's memory, a #L jump, a search.

const (
	chromiumPath = "/usr/bin/chromium"
	pageRounds   = 3 // the page opened afresh this many times; medians
	// pageWait bounds every wait in the page: a page that has not shown
	// what is waited for by then is reported as such.
	pageWait = 60 * time.Second
)

// pageHooks are the page's DOM as its browser tests use it
// (cmd/gaffer/browser_*_test.go): JavaScript function bodies, run on every
// animation frame by the watcher below.
var pageHooks = struct {
	// rows returns the log rows in the DOM, each an element with its seq
	// in data-seq (placeholders of rows not loaded yet have none).
	rows string
	// target is a CSS selector, matched against a row, of the row a #L
	// permalink selects; match, inside a row, of a search match.
	target, match string
	// searchState returns {done, hits} of the page's search: done once
	// every page of it has been read (the page's test hook).
	searchState string
}{
	rows:        `return Array.from(document.querySelectorAll("#log .line[data-seq]"));`,
	target:      ".hl",
	match:       "mark",
	searchState: `const s = window.gafferViewer ? gafferViewer.state() : {}; return {done: !!s.hitsDone, hits: s.hits || 0};`,
}

// watcherJS is added to every document before the page's own scripts. On
// every animation frame it checks what the benchmark waits for and records
// the time (performance.now(): ms since the navigation started) when it
// first holds, in window.__bench:
//   - first: a log row is on screen;
//   - landed: the row of the seq in location.hash (#L123) is on screen,
//     selected;
//   - found: the row window.__bench.findSeq is on screen with a match
//     highlighted in it; searched: after that, the search is done;
//   - enter: Enter pressed once window.__bench.armKeys is set.
func watcherJS() string {
	return `(() => {
  const m = window.__bench = {first: 0, landed: 0, found: 0, searched: 0, hits: 0, enter: 0, armKeys: false, findSeq: 0, jumpFrom: 0};
  const rows = () => { ` + pageHooks.rows + ` };
  const onScreen = (el) => {
    const r = el.getBoundingClientRect();
    return r.height > 0 && r.bottom > 0 && r.top < innerHeight;
  };
  const row = (seq) => rows().find((el) => el.dataset.seq === String(seq) && onScreen(el));
  const searchState = () => { ` + pageHooks.searchState + ` };
  addEventListener("keydown", (e) => { if (m.armKeys && e.key === "Enter" && !m.enter) m.enter = performance.now(); }, true);
  const tick = () => {
    const now = performance.now();
    if (!m.first && document.querySelector("#log") && rows().some(onScreen)) m.first = now;
    const h = /^#L(\d+)/.exec(location.hash);
    if (h && !m.landed) {
      const el = row(+h[1]);
      if (el && el.matches(` + strconv.Quote(pageHooks.target) + `)) m.landed = now;
    }
    if (m.findSeq && !m.found) {
      const el = row(m.findSeq);
      if (el && el.querySelector(` + strconv.Quote(pageHooks.match) + `)) m.found = now;
    }
    if (m.found && !m.searched) {
      const st = searchState();
      if (st.done) { m.searched = now; m.hits = st.hits; }
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();`
}

// pageMarks is window.__bench.
type pageMarks struct {
	First, Landed, Found, Searched, Hits, Enter, JumpFrom float64
}

// pageRound is what one opening of the page measured (ms; 0: never).
type pageRound struct {
	first, jump, search, searchDone, permalink float64
	heap, heapTotal, nodes                     float64 // JS heap bytes, DOM nodes
	rss                                        int64   // renderer VmRSS, kB
	visible                                    string  // the seqs on screen at first
}

func benchBigPage(b *testing.B, g *bigLog) {
	if _, err := os.Stat(chromiumPath); err != nil {
		b.Fatalf("chromium not found: apt-get install -y chromium (%v)", err)
	}
	const jumpSeq = 5_000_000
	jumpRecs, err := g.srv.getRecords(context.Background(), g.path(fmt.Sprintf("/log?after=%d&limit=1", jumpSeq-1)))
	if err != nil || len(jumpRecs) != 1 {
		b.Fatalf("record %d: %v %+v", jumpSeq, err, jumpRecs)
	}
	userDir := b.TempDir()
	ctx := newBrowser(b, userDir)
	call(b, ctx, "add watcher", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watcherJS()})
		return err
	})
	call(b, ctx, "enable metrics", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, performance.Enable, performance.EnableParams{})
		return err
	})
	call(b, ctx, "log in", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Navigate(g.srv.URL+"/login?token="+adminToken))
	})
	jobURL := fmt.Sprintf("%s/jobs/%d", g.srv.URL, g.id)
	// What a tab costs before the job page: the job list (same site, so
	// the same renderer process).
	time.Sleep(time.Second)
	baseRSS := rendererRSS(userDir)
	baseHeap, _, _ := tabMetrics(b, ctx)

	var rounds []pageRound
	var notes []string
	for i := 0; i < b.N*pageRounds; i++ {
		var r pageRound
		// The page opened at its newest lines.
		openFresh(b, ctx, jobURL)
		marks, ok := waitMark(b, ctx, "first")
		if !ok {
			notes = append(notes, fmt.Sprintf("round %d: no line on screen %v after opening %s: %s", i+1, pageWait, jobURL, pageText(ctx)))
			rounds = append(rounds, r)
			continue
		}
		r.first = marks.First
		r.visible = eval[string](b, ctx, `(() => { const s = (() => { `+pageHooks.rows+` })().map((el) => +el.dataset.seq); return s.length ? Math.min(...s) + ".." + Math.max(...s) + " (" + s.length + " rows in the DOM)" : "none"; })()`)

		// Memory once it has settled.
		time.Sleep(time.Second)
		r.heap, r.heapTotal, r.nodes = tabMetrics(b, ctx)
		r.rss = rendererRSS(userDir)

		// A jump to the middle of the log, in the open page.
		eval[bool](b, ctx, fmt.Sprintf(`(() => { __bench.landed = 0; __bench.jumpFrom = performance.now(); location.hash = "#L%d"; return true; })()`, jumpSeq))
		if marks, ok = waitMark(b, ctx, "landed"); ok {
			r.jump = marks.Landed - marks.JumpFrom
			if got := eval[string](b, ctx, fmt.Sprintf(`(() => { const el = (() => { %s })().find((el) => el.dataset.seq === "%d"); return el ? el.textContent : ""; })()`, pageHooks.rows, jumpSeq)); !strings.Contains(got, jumpRecs[0].Text) {
				b.Fatalf("after #L%d the row of seq %d shows %q, want %q", jumpSeq, jumpSeq, got, jumpRecs[0].Text)
			}
		} else {
			notes = append(notes, fmt.Sprintf("round %d: #L%d did not land in %v: %s", i+1, jumpSeq, pageWait, pageText(ctx)))
		}

		// A search for the one needle near the start, typed.
		eval[bool](b, ctx, fmt.Sprintf(`(() => { Object.assign(__bench, {found: 0, searched: 0, enter: 0, armKeys: true, findSeq: %d}); return true; })()`, g.needleSeq))
		tctx, tcancel := context.WithTimeout(ctx, pageWait)
		err := chromedp.Do(tctx, chromedp.SendKeys(chromedp.CSS(`input[type="search"]`), bigNeedle+kb.Enter))
		tcancel()
		if err != nil {
			notes = append(notes, fmt.Sprintf("round %d: cannot type in the search field: %v", i+1, err))
		} else if marks, ok = waitMark(b, ctx, "found"); ok {
			r.search = marks.Found - marks.Enter
			// Done, so that the search's scan does not go on under what
			// is measured next.
			if marks, ok = waitMark(b, ctx, "searched"); ok {
				r.searchDone = marks.Searched - marks.Enter
				if marks.Hits != 1 {
					b.Fatalf("the page's search for %s counts %v matches, want 1", bigNeedle, marks.Hits)
				}
			} else {
				notes = append(notes, fmt.Sprintf("round %d: the search not done %v after its first match: %s", i+1, pageWait, pageText(ctx)))
			}
		} else {
			notes = append(notes, fmt.Sprintf("round %d: the match at seq %d not on screen, highlighted, %v after typing: %s", i+1, g.needleSeq, pageWait, pageText(ctx)))
		}
		h, ht, n := tabMetrics(b, ctx)
		r.heap, r.heapTotal, r.nodes = max(r.heap, h), max(r.heapTotal, ht), max(r.nodes, n)
		r.rss = max(r.rss, rendererRSS(userDir))

		// A permalink opened in a fresh page.
		openFresh(b, ctx, fmt.Sprintf("%s#L%d", jobURL, jumpSeq))
		if marks, ok = waitMark(b, ctx, "landed"); ok {
			r.permalink = marks.Landed
		} else {
			notes = append(notes, fmt.Sprintf("round %d: the permalink #L%d did not land in %v: %s", i+1, jumpSeq, pageWait, pageText(ctx)))
		}
		rounds = append(rounds, r)
	}

	medianOf := func(f func(pageRound) float64) (float64, int) {
		var v []float64
		for _, r := range rounds {
			if x := f(r); x > 0 {
				v = append(v, x)
			}
		}
		if len(v) == 0 {
			return 0, 0
		}
		slices.Sort(v)
		return v[len(v)/2], len(v)
	}
	maxOf := func(f func(pageRound) float64) float64 {
		m := 0.0
		for _, r := range rounds {
			m = max(m, f(r))
		}
		return m
	}
	var lines []string
	for _, f := range []struct {
		name, what string
		get        func(pageRound) float64
	}{
		{"first-lines-ms", "navigation start → a line on screen", func(r pageRound) float64 { return r.first }},
		{"jump-ms", fmt.Sprintf("location.hash = #L%d → that row on screen", jumpSeq), func(r pageRound) float64 { return r.jump }},
		{"search-ms", bigNeedle + " typed, ⏎ pressed → its row on screen, highlighted", func(r pageRound) float64 { return r.search }},
		{"search-done-ms", "⏎ pressed → the page's search done (the whole log scanned)", func(r pageRound) float64 { return r.searchDone }},
		{"permalink-ms", fmt.Sprintf("navigation start of /jobs/%d#L%d → that row on screen", g.id, jumpSeq), func(r pageRound) float64 { return r.permalink }},
	} {
		m, n := medianOf(f.get)
		if n > 0 {
			b.ReportMetric(m, f.name)
		}
		lines = append(lines, fmt.Sprintf("  %-15s %8.0f ms  (%d of %d rounds; %s)", f.name, m, n, len(rounds), f.what))
	}
	heap, heapTotal := maxOf(func(r pageRound) float64 { return r.heap }), maxOf(func(r pageRound) float64 { return r.heapTotal })
	nodes := maxOf(func(r pageRound) float64 { return r.nodes })
	rss := maxOf(func(r pageRound) float64 { return float64(r.rss) })
	b.ReportMetric(heap/(1<<20), "js-heap-MiB")
	b.ReportMetric(rss/1024, "tab-RSS-MiB")
	b.ReportMetric(float64(baseRSS)/1024, "list-tab-RSS-MiB")
	b.ReportMetric(nodes, "dom-nodes")
	var visible []string
	for _, r := range rounds {
		visible = append(visible, r.visible)
	}
	b.Logf("job page of job %d (last seq %d) in Chromium, %d rounds, medians:\n%s\n  JS heap used at most %.1f MiB (allocated %.1f MiB), DOM nodes at most %.0f, tab (renderer process) VmRSS at most %.1f MiB (on the job list before: %.1f MiB, JS heap %.1f MiB)\n  seqs in the DOM when the first lines showed: %s%s",
		g.id, g.lastSeq, len(rounds), strings.Join(lines, "\n"), heap/(1<<20), heapTotal/(1<<20), nodes, rss/1024, float64(baseRSS)/1024, baseHeap/(1<<20),
		strings.Join(visible, "; "), strings.Join(append([]string{""}, notes...), "\n  "))
}

// newBrowser starts a headless Chromium (options as in
// cmd/gaffer/browser_test.go) and returns its first tab.
func newBrowser(b *testing.B, userDir string) context.Context {
	b.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(userDir),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		b.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// openFresh opens url as a new document: by way of about:blank, as going
// from /jobs/1#L5 to /jobs/1#L5 (or to another #L) would only change the
// fragment of the page already open.
func openFresh(b *testing.B, ctx context.Context, url string) {
	b.Helper()
	call(b, ctx, "open "+url, func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(url))
	})
	if href := eval[string](b, ctx, `performance.getEntriesByType("navigation")[0].name`); href != url {
		b.Fatalf("opened %s, the document is %s", url, href)
	}
}

// call runs f with a deadline and fails the benchmark on its error.
func call(b *testing.B, ctx context.Context, what string, f func(context.Context) error) {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, pageWait)
	defer cancel()
	if err := f(ctx); err != nil {
		b.Fatalf("browser: %s: %v", what, err)
	}
}

func eval[T any](b *testing.B, ctx context.Context, js string) T {
	b.Helper()
	ctx, cancel := context.WithTimeout(ctx, pageWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.Fatalf("evaluate %.200s: %v", js, err)
	}
	return v
}

// waitMark polls window.__bench until the mark is set, for pageWait at most.
func waitMark(b *testing.B, ctx context.Context, mark string) (pageMarks, bool) {
	b.Helper()
	deadline := time.Now().Add(pageWait)
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		raw, err := chromedp.Run(c, chromedp.Evaluate[string](`JSON.stringify(window.__bench || {})`))
		cancel()
		var m map[string]any
		if err == nil && json.Unmarshal([]byte(raw), &m) == nil {
			if v, _ := m[mark].(float64); v > 0 {
				var pm pageMarks
				json.Unmarshal([]byte(raw), &pm)
				return pm, true
			}
		}
		if time.Now().After(deadline) {
			return pageMarks{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pageText is the start of what the page shows, for a note.
func pageText(ctx context.Context) string {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Evaluate[string](`location.href + " " + (document.body ? document.body.innerText.slice(0, 300) : "")`))
	if err != nil {
		return err.Error()
	}
	return strconv.Quote(s)
}

// tabMetrics returns the JS heap used and allocated (bytes) and the DOM
// nodes of the tab, from the Performance domain.
func tabMetrics(b *testing.B, ctx context.Context) (heap, total, nodes float64) {
	b.Helper()
	c, cancel := context.WithTimeout(ctx, pageWait)
	defer cancel()
	res, err := chromedp.Call(c, performance.GetMetrics, struct{}{})
	if err != nil {
		b.Fatalf("Performance.getMetrics: %v", err)
	}
	for _, m := range res.Metrics {
		switch m.Name {
		case "JSHeapUsedSize":
			heap = m.Value
		case "JSHeapTotalSize":
			total = m.Value
		case "Nodes":
			nodes = m.Value
		}
	}
	return heap, total, nodes
}

// rendererRSS is the largest VmRSS (kB) of this browser's renderer
// processes (its command line names its user data directory): the tab.
func rendererRSS(userDir string) int64 {
	var best int64
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(cmdline), "--type=renderer") {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || !belongsTo(pid, userDir) {
			continue
		}
		if v, err := procStatus(pid, "VmRSS"); err == nil {
			best = max(best, v)
		}
	}
	return best
}

// belongsTo reports whether pid descends from the browser started with
// userDir (renderers do not repeat the directory on their command line).
func belongsTo(pid int, userDir string) bool {
	for range 10 {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			return false
		}
		if strings.Contains(string(cmdline), userDir) {
			return true
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			return false
		}
		if pid, err = strconv.Atoi(f[1]); err != nil || pid <= 1 {
			return false
		}
	}
	return false
}
