package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// The Hosts page in a real browser: a refused host's key shows as pending
// with its fingerprint; Approve asks for confirmation showing the
// fingerprint, and after it the key is approved, the managed known_hosts
// holds it and jobs run on the host.
func TestBrowserHostKeyApprove(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	fp := sshd.HostKeyFingerprint()
	ts := startServer(t, "--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", filepath.Join(t.TempDir(), "none"))
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"host-1"}, Command: "true"})
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusFailed {
		t.Fatalf("job on a host with an unknown key: %s", j.Status)
	}

	b := newBrowser(t)
	b.login(ts)
	row := `#hosts tr[data-host="host-1"][data-fingerprint="` + fp + `"]`
	b.do(chromedp.Navigate(ts.URL+"/hosts"), chromedp.WaitVisible(chromedp.CSS(row)))
	if state := strings.TrimSpace(b.text(row + " td.state")); state != "pending" {
		t.Fatalf("state %q, want pending\n%s", state, b.snapshot())
	}
	if shown := b.text(row + " td.fp"); shown != fp {
		t.Fatalf("fingerprint shown %q, want %q", shown, fp)
	}
	b.do(chromedp.Click(chromedp.CSS(row + " button.approve")))
	b.waitJS("the approved key", `(function(){ var r = document.querySelector(`+strconv.Quote(row)+`); return r && r.dataset.state === "approved"; })()`)

	b.mu.Lock()
	dialogs := b.dialogs
	b.dialogs = nil
	b.mu.Unlock()
	if len(dialogs) != 1 || !strings.HasPrefix(dialogs[0], "confirm") || !strings.Contains(dialogs[0], fp) || !strings.Contains(dialogs[0], "host-1") {
		t.Fatalf("dialogs %v, want one confirm naming host-1 and %s", dialogs, fp)
	}
	if by := b.text(row + " td:nth-child(8)"); !strings.Contains(by, "admin") {
		t.Errorf("approved column %q", by)
	}
	if btn := evalJS[bool](b, `!!document.querySelector(`+strconv.Quote(row+" button")+`)`); btn {
		t.Error("an approved key still has an Approve button")
	}
	b.checkClean("hosts page")

	managed, _ := os.ReadFile(filepath.Join(ts.DataDir, "known_hosts"))
	if !strings.Contains(string(managed), knownHostsLine(t, sshd.KnownHosts)) {
		t.Errorf("managed known_hosts:\n%s", managed)
	}
	job = ts.startJob(t, gaffer.JobRequest{Hosts: []string{"host-1"}, Command: "true"})
	if j := ts.waitJob(t, job.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job after approval on the page: %s %+v", j.Status, j.Runs[0])
	}
}
