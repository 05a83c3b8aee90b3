package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// TestFollowResumesAfterRestart: a follow job over sshd whose server is
// killed (SIGKILL) or stopped (SIGTERM) while lines are appended to its two
// files, then started again on the same data directory, goes on as the same
// job: every appended line once, in order per file, seqs without a gap or
// a repeat, and a system line saying where each file resumed.
func TestFollowResumesAfterRestart(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	inv := writeInventory(t, sshd.Hosts(), "")
	known := sshd.WriteKnownHosts(t, sshtest.KnownHostsOptions{})
	for _, how := range []string{"kill", "term"} {
		t.Run(how, func(t *testing.T) {
			dataDir := t.TempDir()
			args := []string{"--data-dir", dataDir, "--ssh-config", "", "--inventory", inv, "--known-hosts", known}
			env := []string{"GAFFER_TEST_MAIN=1"}
			p := startServerProcess(t, os.Args[0], env, args...)

			dir := sshtest.SharedDir(t, "gaffer-follow-restart-")
			files := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}
			for _, f := range files {
				appendFile(t, f, "before the job\n")
			}
			job := p.startJob(t, gaffer.JobRequest{Follow: files, Hosts: []string{"host-1"}})
			p.waitFollowing(t, job.ID, 2)

			// Lines go on being appended, to both files in turn, through the
			// stop and the start.
			var written atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					for _, f := range files {
						appendFile(t, f, fmt.Sprintf("%s %05d\n", filepath.Base(f), i))
					}
					written.Store(int64(i + 1))
					time.Sleep(5 * time.Millisecond)
				}
			}()
			// Long enough for the positions to be stored at least once
			// (every 5 s) and lines to come after.
			time.Sleep(7 * time.Second)
			if how == "kill" {
				p.kill()
			} else {
				stopGracefully(t, p)
			}
			time.Sleep(time.Second) // lines written while no server runs
			p2 := startServerProcess(t, os.Args[0], env, args...)
			time.Sleep(3 * time.Second)
			close(stop)
			wg.Wait()
			n := int(written.Load())

			if j := p2.job(t, job.ID); j.Status != gaffer.StatusRunning || j.Runs[0].Status != gaffer.StatusRunning {
				t.Fatalf("after the restart the job is %s, its run %s (%s)", j.Status, j.Runs[0].Status, j.Runs[0].Error)
			}
			last := func(recs []gaffer.Record) bool {
				seen := 0
				for _, r := range recs {
					for _, f := range files {
						if line("host-1", f, fmt.Sprintf("%s %05d", filepath.Base(f), n-1))(r) {
							seen++
						}
					}
				}
				return seen == len(files)
			}
			for deadline := time.Now().Add(2 * time.Minute); !last(p2.ndjson(t, job.ID, "")); time.Sleep(200 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the last lines never came; log:\n%s", dumpRecords(p2.ndjson(t, job.ID, "")))
				}
			}
			// Cancel still works on the resumed job.
			resp := p2.request(t, "POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), nil)
			resp.Body.Close()
			if j := p2.waitJob(t, job.ID); j.Status != gaffer.StatusCanceled {
				t.Fatalf("after cancel: %s", j.Status)
			}

			recs := p2.ndjson(t, job.ID, "")
			checkSeqs(t, recs, len(recs))
			next := map[string]int{}
			for _, r := range recs {
				if r.Stream != gaffer.Stdout {
					continue
				}
				want := fmt.Sprintf("%s %05d", filepath.Base(r.File), next[r.File])
				if string(r.Data) != want || !r.NL {
					t.Fatalf("seq %d: %s has %q, want %q (a line lost or repeated); log:\n%s", r.Seq, r.File, r.Data, want, dumpRecords(recs))
				}
				next[r.File]++
			}
			for _, f := range files {
				if next[f] != n {
					t.Fatalf("%s: %d lines, want %d; log:\n%s", f, next[f], n, dumpRecords(recs))
				}
			}
			resumed := 0
			for _, r := range recs {
				if r.Stream == gaffer.System && r.Host == "host-1" && strings.HasPrefix(string(r.Data), "server restarted; resuming host-1 from ") {
					resumed++
				}
			}
			if resumed != len(files) {
				t.Fatalf("%d lines saying where a file resumed, want %d; log:\n%s", resumed, len(files), dumpRecords(recs))
			}
		})
	}
}
