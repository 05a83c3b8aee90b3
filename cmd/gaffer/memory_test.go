package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/memory"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{} // package -> binary
)

// gafferBinary builds ./cmd/gaffer without the race detector (whose shadow
// memory would swamp any figure of the server's own), once per test binary.
func gafferBinary(t *testing.T) string {
	t.Helper()
	return goBinary(t, ".")
}

// goBinary builds the main package pkg without the race detector, once per
// test binary, and returns the binary's path.
func goBinary(t *testing.T, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	dir, err := os.MkdirTemp("", "gaffer-test-bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(filepath.Clean(pkg)))
	if pkg == "." {
		bin = filepath.Join(dir, "gaffer")
	}
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	built[pkg] = bin
	return bin
}

// removeBuiltBinaries deletes what goBinary built, when the tests are over.
func removeBuiltBinaries() {
	buildMu.Lock()
	defer buildMu.Unlock()
	for _, bin := range built {
		os.RemoveAll(filepath.Dir(bin))
	}
}

// procStatusKB reads a field in kB (VmRSS, VmHWM) of /proc/PID/status.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// Eight jobs at once, each printing three million short lines, on a server
// with default settings (a real binary, not this race-instrumented test):
// the live buffers stay within their budget and the server's peak RSS stays
// far below what eight unbounded buffers would take (519 MiB before the
// fix).
func TestMemoryEightBigJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("eight jobs of 3 M lines each")
	}
	const jobs, lines, limitMiB = 8, 3_000_000, 300
	p := startServerProcess(t, gafferBinary(t), nil, "--data-dir", t.TempDir(), "--ssh-config", "")
	ts, pid := p.testServer, p.PID
	idle := procStatusKB(t, pid, "VmRSS")

	ids := make([]int64, jobs)
	for i := range ids {
		ids[i] = ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: fmt.Sprintf("seq 1 %d", lines)}).ID
	}
	var liveMax float64
	for _, id := range ids {
		deadline := time.Now().Add(10 * time.Minute)
		for j := ts.job(t, id); j.FinishedAt == nil; j = ts.job(t, id) {
			if time.Now().After(deadline) {
				t.Fatalf("job %d still %s after 10 minutes", id, j.Status)
			}
			liveMax = max(liveMax, metric(t, ts, "gaffer_live_buffer_bytes"))
			time.Sleep(250 * time.Millisecond)
		}
	}
	peak, after := procStatusKB(t, pid, "VmHWM"), procStatusKB(t, pid, "VmRSS")
	t.Logf("%d jobs of %d lines at once: server RSS idle %.1f MiB, peak (VmHWM) %.1f MiB, after the jobs %.1f MiB; live buffers held at most %.1f MiB",
		jobs, lines, float64(idle)/1024, float64(peak)/1024, float64(after)/1024, liveMax/(1<<20))

	// Finished jobs keep no live buffer: their logs are in the archive.
	// (finished_at shows a moment before the buffer goes.)
	for deadline := time.Now().Add(10 * time.Second); metric(t, ts, "gaffer_live_buffers") > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if n, b := metric(t, ts, "gaffer_live_buffers"), metric(t, ts, "gaffer_live_buffer_bytes"); n != 0 || b != 0 {
		t.Errorf("after the jobs: %v live buffers hold %v bytes, want none", n, b)
	}
	if limit := float64(memory.DefaultBudget + jobs*64<<10); liveMax > limit {
		t.Errorf("live buffers held %.0f bytes, more than the default budget (%d) and a segment per job", liveMax, memory.DefaultBudget)
	}

	for _, id := range ids {
		if j := ts.job(t, id); j.Status != gaffer.StatusSucceeded {
			t.Errorf("job %d: %s %+v", id, j.Status, j.Runs[0])
		}
		// A line cut by a quiet pause comes in two records: the last line
		// is near seq N+1, not always at it.
		recs := ts.ndjson(t, id, fmt.Sprintf("after=%d", lines-10))
		var last string
		for _, r := range recs {
			if r.Stream == gaffer.Stdout {
				last = string(r.Data)
			}
		}
		if last != strconv.Itoa(lines) {
			t.Errorf("job %d: the log ends with %q, not its last line (%d records after seq %d)", id, last, len(recs), lines-10)
		}
	}
	if peak > limitMiB<<10 {
		t.Errorf("peak RSS %.1f MiB, want under %d MiB", float64(peak)/1024, limitMiB)
	}
}

// --live-budget takes a positive number of bytes; anything else is refused
// with a message that says what to give.
func TestLiveBudgetFlag(t *testing.T) {
	tests := []struct {
		arg, wantErr string
		want         int
	}{
		{arg: "", want: memory.DefaultBudget},
		{arg: "1048576", want: 1 << 20},
		{arg: "0", wantErr: "--live-budget 0: give the bytes"},
		{arg: "-5", wantErr: "--live-budget -5: give the bytes"},
		{arg: "64MiB", wantErr: "invalid value"},
	}
	for _, tt := range tests {
		name := tt.arg
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			var args []string
			if tt.arg != "" {
				args = []string{"--live-budget", tt.arg}
			}
			c, err := parseServeFlags(args, io.Discard)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case c.liveBudget != tt.want:
				t.Fatalf("budget %d, want %d", c.liveBudget, tt.want)
			}
		})
	}
}
