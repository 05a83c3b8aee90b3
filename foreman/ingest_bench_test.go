package foreman

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/archive"
	"github.com/gaffer-dev/gaffer/memory"
)

// BenchmarkIngest is one host's output through what a worker does with it,
// in process: the Framer, the checksum, numbering, the archive (a real one,
// on disk) and the in-process live log. No SSH and no viewer: the server's
// own CPU per line, which bounds the ingest rows of bench/ on few cores.
func BenchmarkIngest(b *testing.B) {
	for _, bc := range []struct {
		name  string
		line  int
		chunk int
	}{{"seq", 7, 32 << 10}, {"seq-256K", 7, 256 << 10}, {"200B", 200, 32 << 10}} {
		b.Run(bc.name, func(b *testing.B) {
			line := strings.Repeat("x", bc.line-1) + "\n"
			chunk := []byte(strings.Repeat(line, bc.chunk/len(line)))
			lines := bytes.Count(chunk, []byte("\n"))
			a, err := archive.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			live := memory.NewLiveLog(0, 0)
			ctx := context.Background()
			if err := live.Create(ctx, 1); err != nil {
				b.Fatal(err)
			}
			aw, err := a.Create(ctx, 1)
			if err != nil {
				b.Fatal(err)
			}
			l := newJobLog(1, aw, live, &Stats{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			defer l.live.close(time.Second)
			f := gaffer.NewFramer("h", gaffer.Stdout, 0, time.Hour, l.emit)
			f.SetCapture(newCheckSum())
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f.Write(chunk)
			}
			b.StopTimer()
			f.Close()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
		})
	}
}
