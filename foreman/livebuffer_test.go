package foreman_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
	"github.com/gaffer-dev/gaffer/foreman"
	"github.com/gaffer-dev/gaffer/memory"
	"github.com/gaffer-dev/gaffer/sqlite"
)

// failingArchive opens writers that fail every write.
type failingArchive struct{ *archive.Archive }

func (a failingArchive) Create(ctx context.Context, id int64) (gaffer.ArchiveWriter, error) {
	w, err := a.Archive.Create(ctx, id)
	return failingWriter{w}, err
}

type failingWriter struct{ gaffer.ArchiveWriter }

func (failingWriter) Write([]gaffer.Record) error { return errors.New("file too large") }

// A finished job's live buffer is dropped as soon as its archive is
// complete, however long LiveLinger is: the server keeps no memory for
// finished jobs, and readers get the whole log from the archive. A job whose
// archive failed keeps its buffer for LiveLinger: it holds the only copy.
func TestFinishedJobDropsLiveBuffer(t *testing.T) {
	tests := []struct {
		name     string
		failing  bool
		wantLive bool
	}{
		{name: "archive complete", wantLive: false},
		{name: "archive failed", failing: true, wantLive: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			a, err := archive.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var arch gaffer.Archive = a
			if tt.failing {
				arch = failingArchive{a}
			}
			live := memory.NewLiveLog(0, 0)
			f := foreman.New(foreman.Config{Store: db, Live: live, Archive: arch, LiveLinger: time.Hour,
				Executor: &fakeExec{results: map[string]gaffer.Result{}, output: "one\ntwo\n"},
				Hosts:    func() []gaffer.Host { return []gaffer.Host{{Name: "h"}} }})
			t.Cleanup(func() { f.Shutdown(ctx) })
			job, err := f.Start(ctx, gaffer.JobRequest{Command: "x", Hosts: []string{"h"}}, "test")
			if err != nil {
				t.Fatal(err)
			}
			waitDone(t, f, job.ID)

			// The job shows its final status a moment before its log is
			// complete; the buffer goes right after.
			var err2 error
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if _, _, err2 = live.Read(ctx, job.ID, 0, 10); gaffer.ErrorCode(err2) == gaffer.ENOTFOUND {
					break
				}
			}
			if gone := gaffer.ErrorCode(err2) == gaffer.ENOTFOUND; gone == tt.wantLive {
				t.Fatalf("live buffer of the finished job: Read = %v; want it kept: %v", err2, tt.wantLive)
			}
			if !tt.failing {
				// running on, one, two, err of h, exit status
				if recs := allLines(t, f, job.ID); len(recs) != 5 || string(recs[1].Data) != "one" {
					t.Fatalf("log from the archive: %d records", len(recs))
				}
			}
		})
	}
}
