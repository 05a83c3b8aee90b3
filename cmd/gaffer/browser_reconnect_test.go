package main

// The job page when the server refuses or drops its log stream: a refused
// EventSource (any status but 200) is closed for good by the browser, so the
// page itself must try again, resuming after the last record it shows.

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gaffer-dev/gaffer"
)

// cutProxy forwards TCP connections to a server, so a test can drop every
// open connection (cut) and hold new ones back (hold, release) the way a
// flaky network or a restarting load balancer does.
type cutProxy struct {
	URL string

	mu      sync.Mutex
	conns   map[net.Conn]bool
	held    chan struct{} // closed when held connections may go on; nil when not holding
	closing bool
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{URL: "http://" + ln.Addr().String(), conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.closing = true
		p.mu.Unlock()
		p.release()
		p.cut()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c, u.Host)
		}
	}()
	return p
}

func (p *cutProxy) forward(c net.Conn, addr string) {
	p.mu.Lock()
	held := p.held
	p.mu.Unlock()
	if held != nil {
		<-held
	}
	up, err := net.Dial("tcp", addr)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut closes every connection open through the proxy.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// hold keeps new connections waiting until release.
func (p *cutProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held == nil {
		p.held = make(chan struct{})
	}
}

func (p *cutProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held != nil {
		close(p.held)
		p.held = nil
	}
}

// logAnswers records the status of every answer the tab got for a log
// stream (/api/jobs/N/log), with its URL.
type logAnswers struct {
	mu  sync.Mutex
	got []logAnswer
}

type logAnswer struct {
	url    string
	status int64
}

func watchLogAnswers(tb *tab) *logAnswers {
	a := &logAnswers{}
	events := chromedp.Events(tb.ctx, network.ResponseReceived)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			if ev.Response == nil || !strings.Contains(ev.Response.URL, "/log") {
				continue
			}
			a.mu.Lock()
			a.got = append(a.got, logAnswer{ev.Response.URL, ev.Response.Status})
			a.mu.Unlock()
		}
	}()
	return a
}

func (a *logAnswers) list() []logAnswer {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]logAnswer(nil), a.got...)
}

// count is how many answers had the status.
func (a *logAnswers) count(status int64) int {
	n := 0
	for _, x := range a.list() {
		if x.status == status {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(browserWait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The server serves one log stream at most and a Go client holds it: the
// job page is refused (503), and shows every line once it gets in. Then its
// stream is cut while the slot is taken again: the browser's own reconnect
// is refused too, and the page resumes after the last line it showed.
func TestBrowserReconnectsAfterRefusedStream(t *testing.T) {
	ts := startServer(t, "--max-streams", "1")
	px := startCutProxy(t, ts.URL)
	b := newBrowser(t)
	b.login(ts) // the cookie is the host's, whatever the port: it holds through the proxy

	dir := t.TempDir()
	gate1, gate2 := filepath.Join(dir, "go1"), filepath.Join(dir, "go2")
	t.Cleanup(func() { os.WriteFile(gate1, nil, 0o644); os.WriteFile(gate2, nil, 0o644) })
	cmd := strings.NewReplacer("GATE1", gate1, "GATE2", gate2).Replace(`i=0
while [ $i -lt 50 ]; do i=$((i+1)); echo "first $i"; done
while [ ! -e 'GATE1' ]; do sleep 0.02; done
while [ $i -lt 100 ]; do i=$((i+1)); echo "second $i"; done
while [ ! -e 'GATE2' ]; do sleep 0.02; done
while [ $i -lt 150 ]; do i=$((i+1)); echo "third $i"; done`)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: cmd})

	holder := ts.openSSE(t, job.ID, "")
	defer func() { holder.Close() }()

	v := b.newTab(t)
	answers := watchLogAnswers(v)
	v.do(chromedp.EmulateViewport(1280, tallViewport), chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", px.URL, job.ID)), chromedp.WaitReady(chromedp.CSS("#log")))
	waitFor(t, "the page's log stream to be refused", func() bool { return answers.count(503) > 0 })

	holder.Close()
	hasLine := func(text string) string {
		return `Array.prototype.some.call(document.querySelectorAll("#log .line.stdout .text"), function (el) { return el.textContent === ` + strconv.Quote(text) + `; })`
	}
	v.waitJS("the first lines after the refusal", hasLine("first 50"))
	if err := os.WriteFile(gate1, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	v.waitJS("the second lines", hasLine("second 100"))

	// Cut the page's stream and take the slot before its reconnect arrives.
	px.hold()
	px.cut()
	waitFor(t, "the server to close the cut stream", func() bool { return openStreams(t, ts) == 0 })
	holder = ts.openSSE(t, job.ID, "")
	refused := answers.count(503)
	px.release()
	waitFor(t, "the page's reconnect to be refused", func() bool { return answers.count(503) > refused })
	v.waitJS("the page to say it reconnects", `document.getElementById("conn").textContent === "reconnecting…"`)
	if err := os.WriteFile(gate2, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if final := ts.waitJob(t, job.ID); final.Status != gaffer.StatusSucceeded {
		t.Fatalf("job %s", final.Status)
	}
	holder.Close()
	v.waitEnded()

	checkLog(t, "after refusals", v.logLines(), wantLines(ts.ndjson(t, job.ID, "")))
	if s := v.text("#conn"); s != "finished: succeeded" {
		t.Errorf("#conn shows %q", s)
	}
	if s := v.text("#jobstatus"); s != "succeeded" {
		t.Errorf("#jobstatus shows %q", s)
	}
	checkRunRow(t, v, "after refusals", "succeeded", "0")
	t.Logf("answers to the page's log streams: %v", answers.list())
	resumed := false
	for _, a := range answers.list() {
		if u, err := url.Parse(a.url); a.status == 200 && err == nil && u.Query().Get("after") != "" && u.Query().Get("after") != "0" {
			resumed = true
		}
	}
	if !resumed {
		t.Errorf("no log stream was resumed with after=: %v", answers.list())
	}
	v.checkClean("reconnect")
}
