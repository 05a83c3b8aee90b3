package main

// End-to-end tests of the web UI in a real headless Chromium, driven with
// chromedp: the live log page, the archive, the new-job form and the login.
// Each test starts its own browser (about a second): it keeps cookies and
// state apart, and the browser closes with the test.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

const chromiumPath = "/usr/bin/chromium"

// browserWait bounds every browser action; it is a deadlock guard, not a
// timing assertion.
const browserWait = 60 * time.Second

// newBrowser starts a headless Chromium for this test and returns its
// first tab (logged out). The browser is closed when the test ends.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) *tab {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium not found: apt-get install -y chromium (%v)", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Cleanups run last-in first-out: the browser exits before its user
	// data dir (registered above by t.TempDir) is removed.
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return watchTab(t, ctx)
}

// tab is one browser tab. It records every JavaScript dialog (and accepts
// it, so the page never stalls) and every uncaught exception of its pages.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	dialogs    []string
	exceptions []string
	// blocked are the browser's reports of what the page's
	// Content-Security-Policy refused: the pages must need nothing it
	// forbids (web/headers.go).
	blocked []string
}

// newTab opens another tab in the browser of b (same cookies).
func (b *tab) newTab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		t.Fatalf("open tab: %v", err)
	}
	return watchTab(t, ctx)
}

func watchTab(t *testing.T, ctx context.Context) *tab {
	tb := &tab{t: t, ctx: ctx}
	// Subscribe before any navigation: the iterators buffer from here on.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	console := chromedp.Console(ctx)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.dialogs = append(tb.dialogs, fmt.Sprintf("%s %q", ev.Type, ev.Message))
			tb.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException {
				tb.mu.Lock()
				tb.exceptions = append(tb.exceptions, m.Text)
				tb.mu.Unlock()
			}
			if strings.Contains(m.Text, "Content Security Policy") {
				tb.mu.Lock()
				tb.blocked = append(tb.blocked, m.Source+": "+m.Text)
				tb.mu.Unlock()
			}
		}
	}()
	return tb
}

// do runs the steps in the tab and fails the test on an error.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

// evalJS evaluates a JavaScript expression in the tab's page.
func evalJS[T any](tb *tab, js string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is truthy. It polls from Go,
// so it keeps waiting across a navigation (which ends an in-page poll).
func (tb *tab) waitJS(what, js string) {
	tb.t.Helper()
	deadline := time.Now().Add(browserWait)
	var last error
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		if tb.ctx.Err() != nil || time.Now().After(deadline) {
			tb.t.Fatalf("waiting for %s (%s): last error %v\npage: %s", what, js, last, tb.snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// snapshot describes the page for failure messages.
func (tb *tab) snapshot() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " " + (window.gafferViewer ? JSON.stringify(gafferViewer.state()) + " " : "") + (document.body ? document.body.innerText.slice(0, 2000) : "")`))
	if err != nil {
		return err.Error()
	}
	return s
}

func (tb *tab) location() string {
	tb.t.Helper()
	return evalJS[string](tb, `location.href`)
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return evalJS[string](tb, `(function(){ var el = document.querySelector(`+strconv.Quote(sel)+`); return el ? el.textContent : "<no "+`+strconv.Quote(sel)+`+">"; })()`)
}

// login uses the login link the way a person would.
func (tb *tab) login(ts *testServer) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(ts.URL + "/login?token=" + testToken))
	if got := tb.location(); got != ts.URL+"/" {
		tb.t.Fatalf("after the login link the browser is at %s, want %s/", got, ts.URL)
	}
}

// openJob opens the live page of a job in a window tall enough that every
// row of a small log is on screen: the page renders only the rows in view.
func (tb *tab) openJob(ts *testServer, id int64) {
	tb.t.Helper()
	tb.do(chromedp.EmulateViewport(1280, tallViewport),
		chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", ts.URL, id)), chromedp.WaitReady(chromedp.CSS("#log")))
}

// tallViewport fits about 380 rows of the log view.
const tallViewport = 8000

// waitEnded waits until the page got the end event of the log.
func (tb *tab) waitEnded() {
	tb.t.Helper()
	tb.waitJS("the end of the log", `document.querySelector('#job[data-ended="true"]') && gafferViewer.state().settled`)
}

// checkClean fails on any dialog, uncaught exception or Content-Security-
// Policy violation seen in the tab.
func (tb *tab) checkClean(name string) {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.dialogs) > 0 {
		tb.t.Errorf("%s: JavaScript dialogs opened: %v", name, tb.dialogs)
	}
	if len(tb.exceptions) > 0 {
		tb.t.Errorf("%s: uncaught JavaScript exceptions: %v", name, tb.exceptions)
	}
	if len(tb.blocked) > 0 {
		tb.t.Errorf("%s: the Content-Security-Policy blocked: %v", name, tb.blocked)
	}
}

// uiLine is one row of #log as the page shows it.
type uiLine struct {
	Seq   int64  `json:"seq"`
	Class string `json:"class"`
	Host  string `json:"host"`
	File  string `json:"file"` // a follow job's: the path the row's file column stands for
	Text  string `json:"text"`
}

func (l uiLine) String() string {
	return fmt.Sprintf("seq=%d class=%q host=%q file=%q text=%q", l.Seq, l.Class, l.Host, l.File, l.Text)
}

// rowCheckJS checks that a row of #log (el) is what the page makes of a
// record and nothing else: its line number, optional time, host, a follow
// job's file (drawn from data attributes, so that they are not copied) and
// text, whose elements are only the spans and links of the colour renderer
// and the marks of a search (no element came from the output).
const rowCheckJS = `function rowOK(el) {
  var c = el.children, n = c.length, f = n >= 4 && c[n - 2].className === "file" ? 1 : 0;
  if (el.tagName !== "DIV" || n - f < 3 || n - f > 4) return false;
  if (c[0].tagName !== "A" || c[0].className !== "ln" || c[0].textContent !== "" || c[0].dataset.ln !== el.dataset.seq) return false;
  if (n - f === 4 && (c[1].className !== "ts" || c[1].textContent !== "")) return false;
  if (f && (c[n - 2].tagName !== "SPAN" || c[n - 2].textContent !== "" || c[n - 2].children.length)) return false;
  var host = c[n - 2 - f], text = c[n - 1];
  if (host.tagName !== "SPAN" || !/^host h\d$/.test(host.className) || host.textContent !== "" || host.dataset.host !== el.dataset.host) return false;
  if (text.tagName !== "SPAN" || text.className !== "text") return false;
  var ok = true;
  text.querySelectorAll("*").forEach(function (e) {
    if (!(e.tagName === "SPAN" || e.tagName === "MARK" || (e.tagName === "A" && /^https?:/.test(e.getAttribute("href") || "")))) ok = false;
  });
  return ok;
}`

// logLines reads every row of #log: the rows on screen (a tall window shows
// a whole small log).
func (tb *tab) logLines() []uiLine {
	tb.t.Helper()
	js := `(function () {
	  ` + rowCheckJS + `
	  var out = [];
	  document.querySelectorAll("#log > *").forEach(function (el) {
	    var ok = rowOK(el);
	    var file = el.querySelector(":scope > span.file");
	    out.push({seq: ok ? Number(el.dataset.seq) : -1, class: el.className.replace(/ (hl|current)\b/g, ""),
	      host: ok ? el.dataset.host : "", file: file ? file.title : "", text: ok ? el.lastElementChild.textContent : el.outerHTML});
	  });
	  return out;
	})()`
	lines := evalJS[[]uiLine](tb, js)
	for _, l := range lines {
		if l.Seq < 0 {
			tb.t.Errorf("#log holds an element that is not a log line: %s", l.Text)
		}
	}
	return lines
}

// terminalText is what a terminal leaves of a line with "\r" in it when each
// rewrite is at least as long as the one before: the last that is not empty.
func terminalText(raw string) string {
	parts := strings.Split(raw, "\r")
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] != "" {
			return parts[i]
		}
	}
	return ""
}

// pageEscapes are what the page drops from a line: terminal control
// sequences (colours become styles) and control characters.
var pageEscapes = regexp.MustCompile("\x1b\\[[0-?]*[ -/]*[@-~]|\x1b\\][^\x07\x1b]*(?:\x07|\x1b\\\\)|\x1b[@-Z\\\\-_]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

// wantLines is what the page must show for a log: one row per record (a
// row's height is fixed, so that a row's place is its seq), marked "nonl"
// when the record does not end its line and "alert" when it matched an
// alert; a newline inside a record (a system line quoting a command) shows
// as a space.
func wantLines(recs []gaffer.Record) []uiLine {
	var out []uiLine
	for _, r := range recs {
		class := "line " + string(r.Stream)
		if !r.NL {
			class += " nonl"
		}
		if r.Alert {
			class += " alert"
		}
		out = append(out, uiLine{Seq: r.Seq, Class: class, Host: r.Host, File: r.File, Text: pageEscapes.ReplaceAllString(terminalText(strings.ReplaceAll(r.Text(), "\n", " ")), "")})
	}
	return out
}

// checkLog asserts that the page shows exactly the job's log, in order.
func checkLog(t *testing.T, name string, got, want []uiLine) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	if len(got) != len(want) {
		t.Logf("%s: %d rows on the page", name, len(got))
	}
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w string
		if i < len(got) {
			g = got[i].String()
		}
		if i < len(want) {
			w = want[i].String()
		}
		if g != w {
			t.Fatalf("%s: the page shows %d lines, the log has %d; first difference at line %d:\n page: %s\n  log: %s",
				name, len(got), len(want), i, g, w)
		}
	}
}

// Two people watch the same running job: each page shows every line of the
// log exactly once, in order, with its stream; output that looks like HTML
// is shown as text and never runs.
func TestBrowserTwoViewersSeeEveryLine(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)

	// The job waits for a gate file, so both pages are open and connected
	// while it runs, with no timing involved.
	gate := filepath.Join(t.TempDir(), "go")
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) }) // never leave it waiting
	const (
		xssAlert  = `<img src=x onerror=alert(1)>`
		xssScript = `<script>alert(2)</script>`
		xssFlag   = `<img src=x onerror="window.__xss=1">`
		htmlErr   = `a & b <b>bold</b> &lt;`
	)
	cmd := strings.ReplaceAll(`while [ ! -e 'GATE' ]; do sleep 0.02; done
i=0
while [ $i -lt 200 ]; do
  i=$((i+1))
  echo "out $i"
  if [ $((i % 20)) = 0 ]; then echo "err $i" >&2; fi
  if [ $i = 100 ]; then
    echo '`+xssAlert+`'
    echo '`+xssScript+`'
    echo '`+xssFlag+`'
    echo '`+htmlErr+`' >&2
  fi
  sleep 0.01
done`, "GATE", gate)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: cmd})

	viewers := []*tab{b.newTab(t), b.newTab(t)}
	for i, v := range viewers {
		v.openJob(ts, job.ID)
		v.waitJS(fmt.Sprintf("viewer %d to connect", i+1), `document.getElementById("conn").textContent === "live"`)
		if ended := evalJS[bool](v, `document.getElementById("job").dataset.ended === "true"`); ended {
			t.Fatalf("viewer %d: the page says the log ended before the job was let go", i+1)
		}
		if st := v.text("#jobstatus"); st != "queued" && st != "running" {
			t.Fatalf("viewer %d: job status %q while the job waits", i+1, st)
		}
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range viewers {
		v.waitEnded()
	}
	final := ts.waitJob(t, job.ID)
	if final.Status != gaffer.StatusSucceeded {
		t.Fatalf("job %s", final.Status)
	}
	recs := ts.ndjson(t, job.ID, "")
	want := wantLines(recs)

	// The command prints whole lines only: one record is one line.
	if len(want) != len(recs) {
		t.Fatalf("%d records make %d lines; the command prints whole lines", len(recs), len(want))
	}
	var stdout, stderr []string
	for _, l := range want {
		switch l.Class {
		case "line stdout":
			stdout = append(stdout, l.Text)
		case "line stderr":
			stderr = append(stderr, l.Text)
		}
	}
	if len(stdout) != 203 || len(stderr) != 11 {
		t.Fatalf("log has %d stdout and %d stderr lines, want 203 and 11", len(stdout), len(stderr))
	}

	for i, v := range viewers {
		name := fmt.Sprintf("viewer %d", i+1)
		for _, s := range []string{xssAlert, xssScript, xssFlag} {
			if n := evalJS[int](v, `Array.prototype.filter.call(document.querySelectorAll("#log .line.stdout .text"), function (el) { return el.textContent === `+strconv.Quote(s)+`; }).length`); n != 1 {
				t.Errorf("%s: %d lines show the text %s, want 1", name, n, s)
			}
		}
		if n := evalJS[int](v, `Array.prototype.filter.call(document.querySelectorAll("#log .line.stderr .text"), function (el) { return el.textContent === `+strconv.Quote(htmlErr)+`; }).length`); n != 1 {
			t.Errorf("%s: %d stderr lines show the text %s, want 1", name, n, htmlErr)
		}
		if n := evalJS[int](v, `document.querySelectorAll("#log img, #log script, #log b").length`); n != 0 {
			t.Errorf("%s: output became %d elements in #log", name, n)
		}
		if x := evalJS[string](v, `typeof window.__xss`); x != "undefined" {
			t.Errorf("%s: output ran as script: window.__xss is %s", name, x)
		}
		if s := v.text("#conn"); s != "finished: succeeded" {
			t.Errorf("%s: #conn shows %q", name, s)
		}
		if s := v.text("#jobstatus"); s != "succeeded" {
			t.Errorf("%s: #jobstatus shows %q", name, s)
		}
		// The page was rendered while the job ran: the runs table and the
		// Cancel button are brought up to date by the status events.
		checkRunRow(t, v, name, "succeeded", "0")
		v.checkClean(name)
		got := v.logLines()
		checkLog(t, name, got, want)
		for _, l := range got {
			if strings.HasPrefix(l.Text, "err ") && l.Class != "line stderr" {
				t.Errorf("%s: %s is not marked stderr", name, l)
			}
		}
	}

	// The dialog watch works: a real alert is seen (so "no dialog" above
	// means none opened, not that none could be seen).
	v := viewers[0]
	evalJS[bool](v, `setTimeout(function () { alert("probe"); }, 0), true`)
	deadline := time.Now().Add(browserWait)
	for {
		v.mu.Lock()
		got := append([]string(nil), v.dialogs...)
		v.mu.Unlock()
		if len(got) > 0 {
			if len(got) != 1 || got[0] != `alert "probe"` {
				t.Fatalf("dialogs: %v, want only the probe", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the probe alert was never seen: the dialog watch does not work")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkRunRow checks the runs table row of host local of a finished job:
// status, exit code, a duration, and no Cancel button.
func checkRunRow(t *testing.T, v *tab, name, status, exit string) {
	t.Helper()
	row := evalJS[[]string](v, `Array.prototype.map.call(document.querySelectorAll('#runs tr[data-host="local"] td'), function (td) { return td.textContent.trim(); })`)
	if len(row) != 6 {
		t.Fatalf("%s: runs row for local: %q", name, row)
	}
	if row[0] != "local" || row[1] != status || row[2] != exit {
		t.Errorf("%s: runs row shows host %q status %q exit %q, want local, %s and %s", name, row[0], row[1], row[2], status, exit)
	}
	if !regexp.MustCompile(`^[0-9][0-9.hms]*s$`).MatchString(row[3]) {
		t.Errorf("%s: runs row duration %q", name, row[3])
	}
	if row[4] != "" {
		t.Errorf("%s: runs row error %q", name, row[4])
	}
	if !regexp.MustCompile(`^[1-9][0-9,]*$`).MatchString(row[5]) {
		t.Errorf("%s: runs row lines %q", name, row[5])
	}
	if evalJS[bool](v, `!document.getElementById("cancel").hidden`) {
		t.Errorf("%s: the Cancel button shows for a finished job", name)
	}
}

// A finished job's page, opened fresh (its log now read from the archive),
// shows the same lines, the final status, the exit code and a duration.
func TestBrowserFinishedJobFromArchive(t *testing.T) {
	ts := startServer(t, "--live-linger", "1ms")
	b := newBrowser(t)
	b.login(ts)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: `for i in 1 2 3 4 5 6 7 8 9 10; do echo "line $i"; echo "warn $i" >&2; done; printf 'no newline at the end'; exit 3`})
	final := ts.waitJob(t, job.ID)
	if final.Status != gaffer.StatusFailed {
		t.Fatalf("job %s, want failed", final.Status)
	}
	time.Sleep(50 * time.Millisecond) // past --live-linger: the live buffer is dropped
	want := wantLines(ts.ndjson(t, job.ID, ""))

	v := b.newTab(t)
	v.openJob(ts, job.ID)
	for _, round := range []string{"fresh tab", "reloaded"} {
		if round == "reloaded" {
			evalJS[bool](v, `window.beforeReload = true`)
			v.do(chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("#log")))
			v.waitJS("the reloaded page", `!window.beforeReload`)
		}
		v.waitEnded()
		checkLog(t, round, v.logLines(), want)
		if s := v.text("#jobstatus"); s != "failed" {
			t.Errorf("%s: #jobstatus shows %q, want failed", round, s)
		}
		if s := v.text("#conn"); s != "finished: failed" {
			t.Errorf("%s: #conn shows %q", round, s)
		}
		checkRunRow(t, v, round, "failed", "3")
	}
	v.checkClean("archive page")
}

// The new-job form starts a job and opens its live page; a request the
// server refuses shows the server's message in the form.
func TestBrowserNewJobForm(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	v := b.newTab(t)

	localBox := `#newjob input[name="hosts"][value="local"]`
	setLocal := func(on bool) {
		t.Helper()
		if evalJS[bool](v, `document.querySelector(`+strconv.Quote(localBox)+`).checked`) != on {
			v.do(chromedp.Click(chromedp.CSS(localBox)))
		}
		if evalJS[bool](v, `document.querySelector(`+strconv.Quote(localBox)+`).checked`) != on {
			t.Fatalf("host checkbox local did not become checked=%v", on)
		}
	}

	command := `echo "form $((6*7))"; echo 'to stderr' >&2`
	v.do(chromedp.Navigate(ts.URL+"/jobs/new"), chromedp.WaitVisible(chromedp.CSS("#command")))
	v.do(chromedp.SendKeys(chromedp.CSS("#command"), command))
	setLocal(true)
	v.do(chromedp.Click(chromedp.CSS(`#newjob button[type="submit"]`)))
	v.waitJS("the job page", `/^\/jobs\/\d+$/.test(location.pathname) && document.getElementById("log")`)
	id, err := strconv.ParseInt(strings.TrimPrefix(evalJS[string](v, `location.pathname`), "/jobs/"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	v.waitEnded()
	job := ts.waitJob(t, id)
	if job.Command != command || len(job.Runs) != 1 || job.Runs[0].Host != "local" {
		t.Fatalf("the form started %q on %v", job.Command, job.Runs)
	}
	got := v.logLines()
	checkLog(t, "new job", got, wantLines(ts.ndjson(t, id, "")))
	var seen []string
	for _, l := range got {
		if l.Class != "line system" {
			seen = append(seen, l.Class+": "+l.Text)
		}
	}
	sort.Strings(seen) // stdout and stderr are separate pipes: no order between them
	if want := []string{"line stderr: to stderr", "line stdout: form 42"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("page shows %q, want %q", seen, want)
	}

	// No host: the server refuses, and the form shows its message.
	v.do(chromedp.Navigate(ts.URL+"/jobs/new"), chromedp.WaitVisible(chromedp.CSS("#command")))
	v.do(chromedp.SendKeys(chromedp.CSS("#command"), "uptime"))
	setLocal(false)
	v.do(chromedp.Click(chromedp.CSS(`#newjob button[type="submit"]`)))
	v.do(chromedp.WaitVisible(chromedp.CSS("#formerror")))
	shown := v.text("#formerror")

	resp := ts.request(t, "POST", "/api/jobs", strings.NewReader(`{"command":"uptime","hosts":[],"selector":"","pty":false}`), "Content-Type", "application/json")
	defer resp.Body.Close()
	var apiErr struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&apiErr); err != nil || resp.StatusCode != 400 {
		t.Fatalf("API answer to a job with no hosts: %s %v", resp.Status, err)
	}
	if shown != apiErr.Error.Message || shown == "" {
		t.Errorf("#formerror shows %q, want the server's message %q", shown, apiErr.Error.Message)
	}
	if p := evalJS[string](v, `location.pathname`); p != "/jobs/new" {
		t.Errorf("after a refused job the browser is at %s", p)
	}
	v.checkClean("new job form")
}

// Without a session cookie a page redirects to the login form, which leads
// back to the page after logging in.
func TestBrowserLoginRequired(t *testing.T) {
	ts := startServer(t)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "echo hello"})
	ts.waitJob(t, job.ID)
	b := newBrowser(t) // a fresh browser: no cookie

	jobPath := fmt.Sprintf("/jobs/%d", job.ID)
	b.do(chromedp.Navigate(ts.URL + jobPath))
	if got, want := b.location(), ts.URL+"/login?next="+strings.ReplaceAll(jobPath, "/", "%2F"); got != want {
		t.Fatalf("without a cookie %s leads to %s, want %s", jobPath, got, want)
	}
	if n := evalJS[int](b, `document.querySelectorAll("#log, #job").length`); n != 0 {
		t.Fatal("the login page shows the job")
	}
	b.do(chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), testToken),
		chromedp.Submit(chromedp.CSS("#token")))
	b.waitJS("the job page after login", `location.pathname === `+strconv.Quote(jobPath)+` && document.getElementById("log")`)
	b.waitEnded()
	got := b.logLines()
	checkLog(t, "after login", got, wantLines(ts.ndjson(t, job.ID, "")))
	b.checkClean("login")
}

// Progress output that rewrites its line with "\r" shows what the last
// rewrite left; a line that arrives in several records (pauses between
// rewrites) is one row per record, each marked as not ending its line.
func TestBrowserProgressLine(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"},
		Command: `printf '10%%\r50%%\r100%%\n'; printf 'slow 10%%\r'; sleep 0.3; printf 'slow 50%%\r'; sleep 0.3; printf 'slow 100%%\n'; echo after`})
	v := b.newTab(t)
	v.openJob(ts, job.ID)
	v.waitEnded()
	got := v.logLines()
	recs := ts.ndjson(t, job.ID, "")
	checkLog(t, "progress", got, wantLines(recs))
	// How the rewrites split into records depends on timing; what the
	// rows show, put together, does not.
	var shown []string
	for _, l := range got {
		if strings.HasPrefix(l.Class, "line stdout") {
			shown = append(shown, l.Text)
		}
	}
	if len(shown) < 3 || shown[0] != "100%" || shown[len(shown)-2] != "slow 100%" || shown[len(shown)-1] != "after" {
		t.Errorf("stdout rows on the page: %q, want 100%%, the slow rewrites ending with slow 100%%, after", shown)
	}
	v.checkClean("progress")
}

// Escape sequences never reach the page as text: colours become styles
// (see browser_ansi_test.go for how they look), the others are dropped.
func TestBrowserANSIColours(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"},
		Command: `printf '\033[31mred\033[0m plain \033]0;title\007\033[1;32mbold green\033[0m\033[2J\n'`})
	v := b.newTab(t)
	v.openJob(ts, job.ID)
	v.waitEnded()
	checkLog(t, "ansi", v.logLines(), wantLines(ts.ndjson(t, job.ID, "")))
	v.checkClean("ansi")
}

// The job page lists every host with its state and can show one host's lines.
func TestBrowserHostFilter(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 2})
	ts := startServer(t, "--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", sshd.KnownHosts)
	b := newBrowser(t)
	b.login(ts)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"host-1", "host-2"}, Command: `for i in 1 2 3; do echo "$i"; done`})
	v := b.newTab(t)
	v.openJob(ts, job.ID)
	v.waitEnded()
	rows := evalJS[string](v, `Array.prototype.map.call(document.querySelectorAll("#runs tr"), function (r) { return r.dataset.host + ":" + r.children[1].textContent + ":" + r.children[2].textContent; }).join(" ")`)
	if rows != "host-1:succeeded:0 host-2:succeeded:0" {
		t.Errorf("runs table: %q", rows)
	}
	shown := `Array.prototype.map.call(document.querySelectorAll("#log .line"), function (l) { return l.dataset.host; })`
	if n := evalJS[int](v, shown+`.length`); n != 10 {
		t.Errorf("%d lines shown for all hosts, want 10", n)
	}
	if got := v.text("#hostfilter option[value='host-2']"); got != "host-2 · 5 · exit 0" {
		t.Errorf("host filter offers %q for host-2", got)
	}
	evalJS[bool](v, `(function () { var s = document.getElementById("hostfilter"); s.value = "host-2"; return s.dispatchEvent(new Event("change")); })()`)
	v.waitJS("host-2's lines", shown+`.join(",") === "host-2,host-2,host-2,host-2,host-2"`)
	got := v.logLines()
	var texts []string
	for _, l := range got {
		if l.Class == "line stdout" {
			texts = append(texts, l.Text)
		}
	}
	if strings.Join(texts, ",") != "1,2,3" {
		t.Errorf("host-2's stdout on the page: %q", texts)
	}
	evalJS[bool](v, `(function () { var s = document.getElementById("hostfilter"); s.value = ""; return s.dispatchEvent(new Event("change")); })()`)
	v.waitJS("every host's lines again", shown+`.length === 10`)
	v.checkClean("host filter")
}
