package main

// The job page's tools: permalinks to a line and a range, following that
// pauses when the reader scrolls up, timestamps, the next stderr line,
// downloads; and ten tabs live in one window.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gaffer-dev/gaffer"
)

// clickLine clicks the line number of row seq as a person does (shift:
// with Shift held).
func (tb *tab) clickLine(seq int64, shift bool) {
	tb.t.Helper()
	pos := evalJS[[]float64](tb, `(function () {
	  var r = document.querySelector('#log .line[data-seq="`+strconv.FormatInt(seq, 10)+`"] a.ln').getBoundingClientRect();
	  return [r.left + r.width / 2, r.top + r.height / 2];
	})()`)
	var opts []chromedp.MouseOption
	if shift {
		opts = append(opts, chromedp.ButtonModifiers(kb.ModifierShift))
	}
	tb.do(chromedp.MouseClickXY(pos[0], pos[1], opts...))
}

// highlighted lists the seqs of the highlighted rows in the DOM.
func (tb *tab) highlighted() string {
	tb.t.Helper()
	return evalJS[string](tb, `Array.prototype.map.call(document.querySelectorAll("#log .line.hl"), function (el) { return el.dataset.seq; }).join(",")`)
}

func TestBrowserViewerTools(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	dir := t.TempDir()
	gate1, gate2 := filepath.Join(dir, "go1"), filepath.Join(dir, "go2")
	t.Cleanup(func() { os.WriteFile(gate1, nil, 0o644); os.WriteFile(gate2, nil, 0o644) })
	cmd := strings.NewReplacer("GATE1", gate1, "GATE2", gate2).Replace(`printf '\033[1;34mbuild\033[0m step %s\n' 1 2 3
i=0
while [ $i -lt 300 ]; do i=$((i+1)); echo "out $i"; if [ $((i % 50)) = 0 ]; then echo "warn $i" >&2; sleep 0.05; fi; done
while [ ! -e 'GATE1' ]; do sleep 0.02; done
i=0
while [ $i -lt 200 ]; do i=$((i+1)); echo "later $i"; done
while [ ! -e 'GATE2' ]; do sleep 0.02; done`)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: cmd})
	for deadline := time.Now().Add(browserWait); ; time.Sleep(50 * time.Millisecond) {
		if recs := ts.ndjson(t, job.ID, "stream=stdout&tail=1"); len(recs) == 1 && recs[0].Text() == "out 300" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not print its first part")
		}
	}
	recs := ts.ndjson(t, job.ID, "")

	v := b.newTab(t)
	v.do(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", ts.URL, job.ID)))
	v.waitJS("the newest lines", `gafferViewer.state().holding && gafferViewer.state().settled && document.querySelector('#log .line[data-seq="`+strconv.FormatInt(recs[len(recs)-1].Seq, 10)+`"]')`)

	// A permalink range: click a line number, shift-click another.
	evalJS[bool](v, `(document.getElementById("scroller").scrollTop = 0, true)`)
	v.waitJS("the first lines", `gafferViewer.state().settled && document.querySelector('#log .line[data-seq="1"]')`)
	if got := evalJS[string](v, `Array.prototype.map.call(document.querySelectorAll("#log .line .text span.ansi-b"), function (s) { return s.textContent; }).join(",")`); got != "build,build,build" {
		t.Errorf("bold coloured spans: %q", got)
	}
	v.clickLine(5, false)
	v.waitJS("the click on 5", `location.hash === "#L5"`)
	v.clickLine(9, true)
	if h := evalJS[string](v, `location.hash`); h != "#L5-L9" {
		t.Errorf("after a click on 5 and a shift-click on 9 the fragment is %q", h)
	}
	if got := v.highlighted(); got != "5,6,7,8,9" {
		t.Errorf("highlighted rows %q, want 5 to 9", got)
	}
	if s := v.state(); s.Following {
		t.Errorf("the page follows while the reader is at the top: %+v", s)
	}

	// Following paused: new lines are counted, not shown.
	if err := os.WriteFile(gate1, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	v.waitJS(`"200 new lines"`, `document.getElementById("newlines").textContent === "200 new lines ↓" && !document.getElementById("newlines").hidden`)
	if got := v.highlighted(); got != "5,6,7,8,9" || !strings.HasPrefix(v.shownRows()[0].Text, "running on local") {
		t.Errorf("new lines moved the view: highlighted %q, first row %v", got, v.shownRows()[0])
	}
	v.do(chromedp.Click(chromedp.CSS("#newlines")))
	v.waitJS("the newest line after the click", `gafferViewer.state().following && gafferViewer.state().settled && document.getElementById("newlines").hidden`)
	if rows := v.shownRows(); rows[len(rows)-1].Text != "later 200" {
		t.Errorf("after the click the view ends with %v", rows[len(rows)-1])
	}

	// Opening the permalink shows the range highlighted.
	if h := evalJS[string](v, `location.hash`); h != "#L5-L9" {
		t.Errorf("the fragment is %q after following again", h)
	}
	evalJS[bool](v, `window.beforeReload = true`)
	v.do(chromedp.Reload())
	v.waitJS("the range", `!window.beforeReload && gafferViewer.state().settled && document.querySelectorAll("#log .line.hl").length === 5`)
	if got := v.highlighted(); got != "5,6,7,8,9" {
		t.Errorf("the permalink highlights %q", got)
	}

	// Timestamps: off, time of day, since the job started.
	tsOf := `Array.prototype.map.call(document.querySelectorAll("#log .line[data-seq] .ts"), function (s) { return s.dataset.ts; })`
	setTS := func(mode string) {
		evalJS[bool](v, `(function () { var s = document.getElementById("tsmode"); s.value = "`+mode+`"; return s.dispatchEvent(new Event("change")); })()`)
		v.waitJS("timestamps "+mode, `gafferViewer.state().settled`)
	}
	if n := evalJS[int](v, tsOf+`.length`); n != 0 {
		t.Errorf("%d timestamps shown before they were asked for", n)
	}
	for _, c := range []struct{ mode, re string }{{"abs", `^\d\d:\d\d:\d\d\.\d{3}$`}, {"rel", `^\+\d\d:\d\d\.\d{3}$`}} {
		setTS(c.mode)
		got := evalJS[[]string](v, tsOf)
		if len(got) < 10 {
			t.Errorf("%s: %d timestamps", c.mode, len(got))
		}
		for _, s := range got {
			if !regexp.MustCompile(c.re).MatchString(s) {
				t.Errorf("%s: timestamp %q", c.mode, s)
				break
			}
		}
	}
	// The choice is kept for the next page.
	v.do(chromedp.Reload())
	v.waitJS("the reloaded page", `gafferViewer.state().settled && document.querySelector("#log .line[data-seq] .ts")`)
	setTS("")
	if n := evalJS[int](v, tsOf+`.length`); n != 0 {
		t.Errorf("%d timestamps shown after they were turned off", n)
	}

	// The next stderr line, from the top, twice.
	v.do(chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", ts.URL, job.ID)))
	v.waitJS("the page", `gafferViewer.state().settled && gafferViewer.state().total > 0`)
	evalJS[bool](v, `(document.getElementById("scroller").scrollTop = 0, true)`)
	v.waitJS("the top", `gafferViewer.state().settled && document.querySelector('#log .line[data-seq="1"]')`)
	stderr := ts.ndjson(t, job.ID, "stream=stderr")
	for _, r := range stderr[:2] {
		v.do(chromedp.Click(chromedp.CSS("#nexterr")))
		v.waitJS(r.Text(), `gafferViewer.state().settled && document.querySelector('#log .line.stderr.hl[data-seq="`+strconv.FormatInt(r.Seq, 10)+`"]')`)
		checkShown(t, v, r.Seq, r.Text())
		if h := evalJS[string](v, `location.hash`); h != fmt.Sprintf("#L%d", r.Seq) {
			t.Errorf("next stderr: fragment %q, want #L%d", h, r.Seq)
		}
	}

	// Downloads: the raw bytes of each stream and the whole log.
	links := evalJS[[]string](v, `Array.prototype.map.call(document.querySelectorAll("#downloads a"), function (a) { return a.getAttribute("href"); })`)
	wantLinks := []string{
		fmt.Sprintf("/api/jobs/%d/log", job.ID),
		fmt.Sprintf("/api/jobs/%d/log?format=raw&host=local&stream=stdout&download=1", job.ID),
		fmt.Sprintf("/api/jobs/%d/log?format=raw&host=local&stream=stderr&download=1", job.ID),
	}
	if strings.Join(links, " ") != strings.Join(wantLinks, " ") {
		t.Errorf("download links %q, want %q", links, wantLinks)
	}
	raw := evalAwait[string](v, `fetch(document.querySelectorAll("#downloads a")[2].href).then(function (r) { return r.text(); })`)
	if raw != "warn 50\nwarn 100\nwarn 150\nwarn 200\nwarn 250\nwarn 300\n" {
		t.Errorf("the stderr download is %q", raw)
	}
	os.WriteFile(gate2, nil, 0o644)
	v.waitEnded()
	v.checkClean("viewer tools")
}

// Ten job pages in ten tabs of one window, as a person opens them: only
// the tab in front is visible, and each tab brought to the front shows new
// lines at once, although a browser opens only six connections to a server.
func TestBrowserTenTabsLive(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	stop := filepath.Join(t.TempDir(), "stop")
	t.Cleanup(func() { os.WriteFile(stop, nil, 0o644) })
	const n = 10
	tabs := make([]*tab, n)
	for i := range tabs {
		job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: fmt.Sprintf(`i=0; while [ ! -e '%s' ]; do i=$((i+1)); echo "job %d tick $i"; sleep 0.2; done`, stop, i+1)})
		tabs[i] = b.newTabInWindow(t)
		tabs[i].do(chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", ts.URL, job.ID)))
	}
	front := func(i int) {
		t.Helper()
		if _, err := chromedp.Call(tabs[i].ctx, page.BringToFront, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	for round, order := range [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {9, 3, 0, 6}} {
		for _, i := range order {
			front(i)
			v := tabs[i]
			v.waitJS(fmt.Sprintf("tab %d in front", i+1), `document.visibilityState === "visible"`)
			for j, o := range tabs {
				if j != i && evalJS[string](o, `document.visibilityState`) != "hidden" {
					t.Errorf("tab %d is %s while tab %d is in front", j+1, evalJS[string](o, `document.visibilityState`), i+1)
				}
			}
			start := time.Now()
			seen := v.state().LastSeq
			v.waitJS(fmt.Sprintf("tab %d to show new lines", i+1), `(function (s, rows) {
			  return s.lastSeq > `+strconv.FormatInt(seen+2, 10)+` && rows.length && rows[rows.length - 1].seq === s.lastSeq;
			})(gafferViewer.state(), `+shownRowsJS+`)`)
			t.Logf("round %d: tab %d in front shows new lines after %s", round+1, i+1, time.Since(start).Round(time.Millisecond))
		}
	}
	// The hidden tabs hold no stream.
	for deadline := time.Now().Add(browserWait); ; time.Sleep(100 * time.Millisecond) {
		holding := 0
		for _, o := range tabs {
			if o.state().Holding {
				holding++
			}
		}
		if holding == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tabs hold a stream, want only the one in front", holding)
		}
	}
	for i, o := range tabs {
		o.checkClean(fmt.Sprintf("tab %d", i+1))
	}
}

// newTabInWindow opens another tab in the window of b's browser, as a
// person does: only the active tab of a window is visible.
func (b *tab) newTabInWindow(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewWindow(false))
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return watchTab(t, ctx)
}

// A range opened in the middle of the log shows the colour its host's
// stream was in: the page reads records before the range (a look-back of
// 300) to learn it. A colour set further back is not seen: the limit.
func TestBrowserColourLookBack(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: `seq 1 1000; printf '\033[31m'; seq 1001 4000`})
	ts.waitJob(t, job.ID)
	var esc int64
	for _, r := range ts.ndjson(t, job.ID, "") {
		if strings.Contains(r.Text(), "\x1b[31m") {
			esc = r.Seq
		}
	}
	if esc == 0 {
		t.Fatal("no record sets the colour")
	}
	red := func(seq int64) bool {
		return evalJS[bool](b, `!!document.querySelector('#log .line[data-seq="`+strconv.FormatInt(seq, 10)+`"] .text span.ansi-fg-1')`)
	}
	for _, c := range []struct {
		seq  int64
		want bool
	}{
		{esc + 600, true},   // the colour is in the look-back of the range read
		{esc + 1500, false}, // further back than the look-back: not seen
	} {
		b.do(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(fmt.Sprintf("%s/jobs/%d#L%d", ts.URL, job.ID, c.seq)))
		b.waitJS(fmt.Sprintf("line %d", c.seq), `gafferViewer.state().settled && document.querySelector('#log .line.hl[data-seq="`+strconv.FormatInt(c.seq, 10)+`"]')`)
		if got := red(c.seq); got != c.want {
			t.Errorf("line %d (%d after the colour was set) red: %v, want %v", c.seq, c.seq-esc, got, c.want)
		}
	}
	b.checkClean("colour look-back")
}

// A reader copying a line of a running job keeps the selection while new
// lines scroll the view (the rows that stay are not taken out and put back).
func TestBrowserSelectionSurvivesNewLines(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	gate := filepath.Join(t.TempDir(), "go")
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: strings.ReplaceAll(`i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo "first $i"; done
while [ ! -e 'GATE' ]; do sleep 0.02; done
i=0; while [ $i -lt 5 ]; do i=$((i+1)); echo "then $i"; done
while :; do sleep 1; done`, "GATE", gate)})
	for deadline := time.Now().Add(browserWait); ; time.Sleep(50 * time.Millisecond) {
		if recs := ts.ndjson(t, job.ID, "tail=1"); len(recs) == 1 && recs[0].Text() == "first 100" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not print its first part")
		}
	}
	v := b.newTab(t)
	v.do(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", ts.URL, job.ID)))
	v.waitJS("the newest lines", `gafferViewer.state().following && gafferViewer.state().settled && document.querySelector('#log .line[data-seq="101"]')`)

	const selectRow = `(function () {
	  var t = document.querySelector('#log .line[data-seq="95"] .text'), r = document.createRange();
	  r.selectNodeContents(t);
	  getSelection().removeAllRanges();
	  getSelection().addRange(r);
	  return getSelection().toString();
	})()`
	if got := evalJS[string](v, selectRow); got != "first 94" {
		t.Fatalf("selected %q, want the row's text", got)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	v.waitJS("the new lines", `gafferViewer.state().settled && document.querySelector('#log .line[data-seq="106"]')`)
	if rows := v.shownRows(); rows[len(rows)-1].Text != "then 5" {
		t.Errorf("the view did not follow: it ends with %v", rows[len(rows)-1])
	}
	if got := evalJS[string](v, `getSelection().toString()`); got != "first 94" {
		t.Errorf("after 5 new lines the selection is %q, want %q", got, "first 94")
	}
}
