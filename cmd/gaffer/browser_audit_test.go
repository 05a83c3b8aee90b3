package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gaffer-dev/gaffer"
)

// auditRow is one row of the audit page as it shows it.
type auditRow struct {
	Action string `json:"action"`
	Target string `json:"target"`
	Actor  string `json:"actor"`
	Detail string `json:"detail"`
}

func (tb *tab) auditRows() []auditRow {
	tb.t.Helper()
	return evalJS[[]auditRow](tb, `Array.prototype.map.call(document.querySelectorAll("#audit tbody tr"), function (tr) {
  function cell(c) { return tr.querySelector("td." + c).textContent.trim(); }
  return {action: cell("action"), target: cell("target"), actor: cell("actor"), detail: cell("detail")};
})`)
}

func actions(rows []auditRow) string {
	var a []string
	for _, r := range rows {
		a = append(a, r.Action)
	}
	return strings.Join(a, " ")
}

// An admin logs in, starts a job whose command holds markup, cancels it on
// its page, and finds the three events on the audit page through the
// menu, newest first, the markup shown as text; the filter and the Older
// link work.
func TestBrowserAudit(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	const command = `sleep 60 # <img src=x onerror=alert(1)><script>alert(2)</script>`
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: command})
	v := b.newTab(t)
	v.openJob(ts, job.ID)
	v.do(chromedp.WaitVisible(chromedp.CSS("#cancel")), chromedp.Click(chromedp.CSS("#cancel"))) // the confirm is accepted
	v.waitJS("the canceled job", `document.getElementById("jobstatus").textContent === "canceled"`)

	a := b.newTab(t)
	a.do(chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#nav-audit")), chromedp.Click(chromedp.CSS("#nav-audit")))
	a.waitJS("the audit page", `location.pathname === "/audit" && document.getElementById("audit")`)
	rows := a.auditRows()
	if got := actions(rows); got != "job.cancel job.start login" {
		t.Fatalf("the page shows %q, want job.cancel job.start login\n%s", got, a.snapshot())
	}
	target := fmt.Sprintf("job %d", job.ID)
	for _, r := range rows {
		if r.Actor != "admin" {
			t.Errorf("row %+v: actor %q, want admin", r, r.Actor)
		}
	}
	if rows[0].Target != target || rows[1].Target != target || !strings.Contains(rows[0].Detail, `"hosts":["local"]`) {
		t.Errorf("rows %+v, want %s on local", rows[:2], target)
	}
	// The command is text: the page holds no element made from it.
	if !strings.Contains(rows[1].Detail, `<img src=x onerror=alert(1)><script>alert(2)</script>`) {
		t.Errorf("job.start detail shows %q", rows[1].Detail)
	}
	if n := evalJS[int](a, `document.querySelectorAll("main img, main script").length`); n != 0 {
		t.Errorf("%d elements made from the command", n)
	}

	// Filter by action with the form.
	a.do(chromedp.SetValue(chromedp.CSS("#f-action"), "job.start"), chromedp.Click(chromedp.CSS(`#auditfilter button[type="submit"]`)))
	a.waitJS("the filtered page", `location.search.indexOf("action=job.start") >= 0 && document.getElementById("audit")`)
	if got := actions(a.auditRows()); got != "job.start" {
		t.Errorf("filtered by job.start the page shows %q", got)
	}
	// Older, one event a page: each in turn, then none left.
	a.do(chromedp.Navigate(ts.URL + "/audit?limit=1"))
	var seen []string
	for i := 0; i < 3; i++ {
		seen = append(seen, actions(a.auditRows()))
		evalJS[bool](a, `window.olderPage = true`)
		a.do(chromedp.Click(chromedp.CSS("#older")))
		a.waitJS("the older page", `!window.olderPage && document.querySelector("#audit, p.empty")`)
	}
	if strings.Join(seen, ",") != "job.cancel,job.start,login" {
		t.Errorf("paging shows %q", seen)
	}
	if evalJS[string](a, `document.querySelector("p.empty") ? document.querySelector("p.empty").textContent : ""`) != "No older events." {
		t.Errorf("past the oldest event: %s", a.snapshot())
	}
	a.checkClean("audit page")
}
