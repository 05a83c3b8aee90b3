package foreman_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/foreman"
	"github.com/gaffer-dev/gaffer/memory"
)

// chunkExec writes lines a chunk at a time, pausing now and then, on
// stdout and a little on stderr: a running job whose log grows while it is
// read, in runs of several sources.
type chunkExec struct{ chunks, lines int }

func (e chunkExec) Exec(ctx context.Context, h *gaffer.Host, spec gaffer.ExecSpec, stdout, stderr io.Writer) gaffer.Result {
	var b strings.Builder
	for c := range e.chunks {
		b.Reset()
		for i := range e.lines {
			fmt.Fprintf(&b, "%s line %d.%d\n", h.Name, c, i)
		}
		io.WriteString(stdout, b.String())
		if c%10 == 0 {
			fmt.Fprintf(stderr, "%s at chunk %d\n", h.Name, c)
			time.Sleep(time.Millisecond)
		}
	}
	return gaffer.Result{}
}

// recordsOnly is a live log that cannot read into gaffer.Lines (nor into
// a ReadBuffer), as the Redis one.
type recordsOnly struct{ gaffer.LiveLog }

// A reader following a running job as lines (ReadLogLines, as a lone
// viewer of lines events does) gets every record ReadLog gives: from an
// in-process live log, from one that reads only Records, and from one so
// small that the reader falls behind it onto the archive and back.
func TestReadLogLinesFollowing(t *testing.T) {
	for _, tc := range []struct {
		name string
		live func() gaffer.LiveLog
	}{
		{"in process", func() gaffer.LiveLog { return memory.NewLiveLog(0, 0) }},
		{"small", func() gaffer.LiveLog { return memory.NewLiveLog(8<<10, 0) }},
		{"records only", func() gaffer.LiveLog { return recordsOnly{memory.NewLiveLog(8<<10, 0)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			hosts := []gaffer.Host{{Name: "h1"}, {Name: "h2"}}
			f := newForemanConfig(t, chunkExec{chunks: 200, lines: 150}, nil, hosts, func(c *foreman.Config) { c.Live = tc.live() })
			job, err := f.Start(ctx, gaffer.JobRequest{Command: "x", Hosts: []string{"h1", "h2"}}, "test")
			if err != nil {
				t.Fatal(err)
			}
			var got []gaffer.Record
			var l gaffer.Lines
			for after, reads := int64(0), 0; ; reads++ {
				end, err := f.ReadLogLines(ctx, job.ID, after, 0, &l)
				if err != nil {
					t.Fatalf("ReadLogLines(after=%d): %v", after, err)
				}
				n := len(got)
				got = l.Records(got)
				for i := n; i < len(got); i++ {
					got[i].Data = append([]byte(nil), got[i].Data...)
				}
				if l.Len() > 0 {
					after = l.Last()
				}
				if end {
					break
				}
				if l.Len() == 0 {
					wctx, cancel := context.WithTimeout(ctx, time.Second)
					f.WaitLog(wctx, job.ID, after)
					cancel()
				} else if reads%4 == 0 {
					time.Sleep(time.Millisecond) // behind, now and then
				}
			}
			want := allLines(t, f, job.ID)
			if len(got) != len(want) || len(want) < 2*200*150 {
				t.Fatalf("read %d records as lines; the log has %d", len(got), len(want))
			}
			for i := range want {
				if g, w := got[i].AppendJSON(nil), want[i].AppendJSON(nil); string(g) != string(w) {
					t.Fatalf("record %d: %s, want %s", i, g, w)
				}
			}
		})
	}
}
