package main

// The job page of a follow job: each line's file, the file filter, alerts
// highlighted and found, each host's files and connection; and the
// new-job form's "Follow files".

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// hostileName is a file name that is markup: the page must show it as text.
const hostileName = `<img src=x onerror="window.__xss=1">.log`

// setSelect chooses a value of a <select> as a person does.
func (tb *tab) setSelect(id, value string) {
	tb.t.Helper()
	evalJS[bool](tb, `(function () { var s = document.getElementById(`+strconv.Quote(id)+`); s.value = `+strconv.Quote(value)+`;
	  return s.value === `+strconv.Quote(value)+` && s.dispatchEvent(new Event("change")); })()`)
}

// followRows reads the page's follow state panel: host, connection,
// path, state per row.
func (tb *tab) followRows() [][]string {
	tb.t.Helper()
	return evalJS[[][]string](tb, `Array.prototype.map.call(document.querySelectorAll("#followstate tr"), function (tr) {
	  return Array.prototype.map.call(tr.children, function (td) { return td.textContent; });
	})`)
}

// waitFollowed waits until the job's log holds n lines of followed files.
func (ts *testServer) waitFollowed(t *testing.T, id int64, n int) []gaffer.Record {
	t.Helper()
	for deadline := time.Now().Add(browserWait); ; time.Sleep(50 * time.Millisecond) {
		if recs := ts.ndjson(t, id, "stream=stdout"); len(recs) >= n {
			return recs
		} else if time.Now().After(deadline) {
			t.Fatalf("%d lines of followed files in the log, want %d:\n%s", len(recs), n, dumpRecords(ts.ndjson(t, id, "")))
		}
	}
}

func TestBrowserFollowPage(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	dir := t.TempDir()
	app, hostile, later := filepath.Join(dir, "app.log"), filepath.Join(dir, hostileName), filepath.Join(dir, "later.txt")
	appendFile(t, app, "app one\nERROR disk full\napp three\n")
	appendFile(t, hostile, "hostile one\n")
	job := ts.startJob(t, gaffer.JobRequest{Follow: []string{dir + "/*.log", later}, From: "start", Hosts: []string{"local"},
		Alerts: []gaffer.AlertRule{{Pattern: "ERROR"}}})
	t.Cleanup(func() { ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil).Body.Close() })
	ts.waitFollowing(t, job.ID, 2)
	ts.waitFollowed(t, job.ID, 4)

	v := b.newTab(t)
	v.openJob(ts, job.ID)
	all := ts.ndjson(t, job.ID, "")
	last := strconv.FormatInt(all[len(all)-1].Seq, 10)
	v.waitJS("the log", `gafferViewer.state().settled && document.querySelector('#log .line[data-seq="`+last+`"]') && document.querySelectorAll("#followstate tr").length === 3`)

	// Every line with its file; the alert's line marked.
	checkLog(t, "follow job", v.logLines(), wantLines(all))
	labels := evalJS[[]string](v, `Array.prototype.map.call(document.querySelectorAll("#log .line.stdout .file"), function (s) {
	  return s.dataset.file + "=" + getComputedStyle(s, "::before").content; })`)
	sort.Strings(labels)
	want := []string{`app.log="app.log"`, `app.log="app.log"`, `app.log="app.log"`, hostileName + "=" + strconv.Quote(hostileName)}
	if sort.Strings(want); !reflect.DeepEqual(labels, want) {
		t.Errorf("file column: %q, want %q", labels, want)
	}
	if got := evalJS[string](v, `Array.prototype.map.call(document.querySelectorAll("#log .line.alert .text"), function (s) { return s.textContent; }).join("|")`); got != "ERROR disk full" {
		t.Errorf("alert rows: %q", got)
	}

	// Each file's state; a path without a file is missing.
	rows := v.followRows()
	sort.Slice(rows, func(i, j int) bool { return rows[i][2] < rows[j][2] })
	if len(rows) != 3 || rows[0][2] != hostile || rows[0][3] != "following" || rows[1][2] != app || rows[1][3] != "following" ||
		rows[2][2] != later || !strings.HasPrefix(rows[2][3], "file missing since ") {
		t.Errorf("follow state: %q", rows)
	}
	if got := v.text("#followstate tr:first-child td.conn"); got != "following" {
		t.Errorf("connection: %q", got)
	}

	// The file filter: one file's lines, with counts.
	opts := evalJS[[]string](v, `Array.prototype.map.call(document.getElementById("filefilter").options, function (o) { return o.textContent; })`)
	if want := []string{"all files", hostile + " · 1", app + " · 3"}; !reflect.DeepEqual(opts, want) {
		t.Errorf("file filter offers %q, want %q", opts, want)
	}
	stdoutFiles := `Array.prototype.map.call(document.querySelectorAll("#log .line"), function (l) { return l.querySelector(".file").title; }).join("|")`
	v.setSelect("filefilter", app)
	v.waitJS("app.log's lines", `gafferViewer.state().settled && `+stdoutFiles+` === `+strconv.Quote(app+"|"+app+"|"+app))
	if got := v.text("#count"); !strings.HasPrefix(got, "app.log: rows 1–3 of 3") {
		t.Errorf("count with the file filter: %q", got)
	}
	v.setSelect("filefilter", hostile)
	v.waitJS("the hostile file's line", `gafferViewer.state().settled && `+stdoutFiles+` === `+strconv.Quote(hostile))
	v.setSelect("filefilter", "")
	v.waitJS("every line again", `gafferViewer.state().settled && document.querySelector('#log .line[data-seq="`+last+`"]') && document.querySelectorAll("#log .line.stdout").length === 4`)

	// A file that appears later: followed, live, its alert marked.
	appendFile(t, later, "late ERROR line\n")
	v.waitJS("the later file's line", `(function (el) { return el && el.classList.contains("alert") && el.querySelector(".file").dataset.file === "later.txt"; })(
	  Array.prototype.filter.call(document.querySelectorAll("#log .line.stdout"), function (l) { return l.querySelector(".text").textContent === "late ERROR line"; })[0])`)
	v.waitJS("later.txt followed", `Array.prototype.some.call(document.querySelectorAll("#followstate tr"), function (tr) {
	  return tr.dataset.path === `+strconv.Quote(later)+` && tr.children[3].textContent === "following"; })`)

	// "next alert ↓" from the top, twice.
	alerts := ts.ndjson(t, job.ID, "stream=stdout")
	var alertSeqs []int64
	for _, r := range alerts {
		if r.Alert {
			alertSeqs = append(alertSeqs, r.Seq)
		}
	}
	if len(alertSeqs) != 2 {
		t.Fatalf("alert records %v:\n%s", alertSeqs, dumpRecords(alerts))
	}
	evalJS[bool](v, `(document.getElementById("scroller").scrollTop = 0, true)`)
	v.waitJS("the top", `gafferViewer.state().settled && gafferViewer.state().top === 0`)
	for _, seq := range alertSeqs {
		v.do(chromedp.Click(chromedp.CSS("#nextalert")))
		v.waitJS(fmt.Sprintf("alert %d", seq), `location.hash === "#L`+strconv.FormatInt(seq, 10)+`" && gafferViewer.state().settled && document.querySelector('#log .line.alert.hl[data-seq="`+strconv.FormatInt(seq, 10)+`"]')`)
	}

	// Downloads: one per file, as the summary says when the menu opens.
	v.do(chromedp.Click(chromedp.CSS(".downloads summary")))
	v.waitJS("three downloads", `document.querySelectorAll("#downloads a.raw").length === 3`)
	links := evalJS[[]string](v, `Array.prototype.map.call(document.querySelectorAll("#downloads a.raw"), function (a) { return a.textContent.replace(/ \(raw.*$/, ""); })`)
	sort.Strings(links)
	if want := []string{"local " + hostile, "local " + app, "local " + later}; !reflect.DeepEqual(links, want) {
		t.Errorf("downloads %q, want %q", links, want)
	}
	raw := evalAwait[string](v, `fetch(Array.prototype.filter.call(document.querySelectorAll("#downloads a.raw"), function (a) { return a.textContent.indexOf("app.log") >= 0; })[0].href).then(function (r) { return r.text(); })`)
	if raw != "app one\nERROR disk full\napp three\n" {
		t.Errorf("app.log's download: %q", raw)
	}

	// Stopped: the panel says so.
	ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil).Body.Close()
	v.waitEnded()
	v.waitJS("canceled in the panel", `document.querySelector("#followstate tr td.conn").textContent === "canceled"`)

	if n := evalJS[int](v, `document.querySelectorAll("img, #log script").length`); n != 0 {
		t.Errorf("a file name became %d elements", n)
	}
	if x := evalJS[string](v, `typeof window.__xss`); x != "undefined" {
		t.Errorf("a file name ran as script: window.__xss is %s", x)
	}
	v.checkClean("follow page")
}

// "Follow files" on the new-job form: paths one per line or separated by
// commas, from the start, an alert; the server's refusal shown as text.
func TestBrowserNewFollowJobForm(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	v := b.newTab(t)
	dir := t.TempDir()
	a, c := filepath.Join(dir, "a.log"), filepath.Join(dir, "c.log")
	appendFile(t, a, "line of a\n")
	if err := os.WriteFile(c, []byte("line of c\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	v.do(chromedp.Navigate(ts.URL+"/jobs/new"), chromedp.WaitVisible(chromedp.CSS("#command")))
	if !evalJS[bool](v, `document.getElementById("followpart").hidden`) {
		t.Error("the follow part shows before it is chosen")
	}
	v.do(chromedp.Click(chromedp.CSS(`input[name="kind"][value="follow"]`)), chromedp.WaitVisible(chromedp.CSS("#paths")))
	if !evalJS[bool](v, `document.getElementById("commandpart").hidden && document.getElementById("ptypart").hidden`) {
		t.Error("the command part still shows when following files")
	}
	v.do(chromedp.SendKeys(chromedp.CSS("#paths"), a+" , "+dir+"/b.log\n"+c+"\n"))
	v.setSelect("from", "start")
	v.do(chromedp.SendKeys(chromedp.CSS("#alertpattern"), "<b>(ERROR"))
	v.do(chromedp.Click(chromedp.CSS(`#newjob button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#formerror")))
	shown := v.text("#formerror")
	resp := ts.request(t, "POST", "/api/jobs", strings.NewReader(`{"follow":["/x"],"hosts":["local"],"alerts":[{"pattern":"<b>(ERROR"}]}`), "Content-Type", "application/json")
	var apiErr struct{ Error struct{ Message string } }
	json.NewDecoder(resp.Body).Decode(&apiErr)
	resp.Body.Close()
	if shown == "" || shown != apiErr.Error.Message || evalJS[int](v, `document.querySelectorAll("#formerror *").length`) != 0 {
		t.Errorf("#formerror shows %q, want the server's message %q as text", shown, apiErr.Error.Message)
	}

	v.do(chromedp.SetValue(chromedp.CSS("#alertpattern"), "line of"))
	v.do(chromedp.Click(chromedp.CSS(`#newjob button[type="submit"]`)))
	v.waitJS("the job page", `/^\/jobs\/\d+$/.test(location.pathname) && document.getElementById("log")`)
	id, err := strconv.ParseInt(strings.TrimPrefix(evalJS[string](v, `location.pathname`), "/jobs/"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", id), nil).Body.Close() })
	job := ts.job(t, id)
	if want := []string{a, dir + "/b.log", c}; !reflect.DeepEqual(job.Follow, want) || job.From != "start" || len(job.Alerts) != 1 || job.Alerts[0].Pattern != "line of" {
		t.Fatalf("the form started follow %q from %q alerts %+v", job.Follow, job.From, job.Alerts)
	}
	v.waitJS("both files' lines, marked", `document.querySelectorAll("#log .line.stdout.alert").length === 2`)
	v.checkClean("new follow job form")
}

// A host that goes away shows as reconnecting, since when and why, in the
// page's table of each host's files.
func TestBrowserFollowReconnecting(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	proxy := sshtest.StartProxy(t, sshd.Addrs[0])
	hosts := sshd.Hosts()
	hosts[0].Address, hosts[0].Port = "127.0.0.1", proxy.Port()
	known := sshd.WriteKnownHosts(t, sshtest.KnownHostsOptions{Addrs: []string{proxy.Addr()}})
	ts := startServer(t, "--inventory", writeInventory(t, hosts, ""), "--known-hosts", known)
	b := newBrowser(t)
	b.login(ts)
	dir := sshtest.SharedDir(t, "gaffer-follow-page-")
	appendFile(t, filepath.Join(dir, "app.log"), "one\n")
	job := ts.startJob(t, gaffer.JobRequest{Follow: []string{dir + "/app.log"}, From: "start", Hosts: []string{"host-1"}})
	t.Cleanup(func() { ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil).Body.Close() })
	ts.waitFollowing(t, job.ID, 1)

	v := b.newTab(t)
	v.openJob(ts, job.ID)
	conn := `document.querySelector("#followstate tr td.conn").textContent`
	v.waitJS("following", conn+` === "following"`)
	proxy.Stall() // the connection hangs: the keepalive notices, reconnects hang too
	v.waitJS("reconnecting", `/^reconnecting since \d\d:\d\d:\d\d: ./.test(`+conn+`)`)
	if cls := evalJS[string](v, `document.querySelector("#followstate tr td.conn").className`); cls != "conn fs-reconnecting" {
		t.Errorf("connection cell class %q", cls)
	}
	v.checkClean("follow reconnecting")
}

// A failing webhook shows on the job's page, without the secret parts of
// its URL.
func TestBrowserWebhookFailing(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for now", http.StatusServiceUnavailable)
	}))
	t.Cleanup(hook.Close)
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	file := filepath.Join(t.TempDir(), "app.log")
	appendFile(t, file, "")
	job := ts.startJob(t, gaffer.JobRequest{Follow: []string{file}, Hosts: []string{"local"},
		Alerts: []gaffer.AlertRule{{Pattern: "ERROR", Webhook: hook.URL + "/hooks/s3cret?token=s3cret"}}})
	t.Cleanup(func() { ts.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil).Body.Close() })
	ts.waitFollowing(t, job.ID, 1)

	v := b.newTab(t)
	v.openJob(ts, job.ID)
	v.waitJS("the page", `gafferViewer.state().settled && document.querySelectorAll("#followstate tr").length === 1`)
	if !evalJS[bool](v, `document.getElementById("webhooks").hidden`) {
		t.Errorf("webhooks shown before one failed: %q", v.text("#webhooks"))
	}
	appendFile(t, file, "ERROR one\n")
	v.waitJS("the failing webhook", `!document.getElementById("webhooks").hidden && / failing since \d\d:\d\d:\d\d/.test(document.getElementById("webhooks").textContent)`)
	got := v.text("#webhooks")
	if !strings.HasPrefix(got, "Webhook "+hook.URL+"/… failing since ") || strings.Contains(got, "s3cret") {
		t.Errorf("webhooks: %q", got)
	}
	v.checkClean("webhook failing")
}
