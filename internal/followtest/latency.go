package followtest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Latency measures, b.N times, how long a line appended to each of files
// files takes to arrive as an event: the first and the last of them. It
// reports the medians and the worst (ms), for docs/follow.md; nothing is
// asserted.
func Latency(b *testing.B, f gaffer.Follower, h gaffer.Host, files int) {
	c, paths := followMany(b, f, h, files)
	var first, all []time.Duration
	var want []string
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Not in step with the script's polls.
		time.Sleep(time.Duration(100+i*37%150) * time.Millisecond)
		written := time.Now()
		for j, p := range paths {
			line := fmt.Sprintf("line %d of file %d\n", i, j)
			AppendFile(b, p, line)
			if i == 0 {
				want = append(want, "")
			}
			want[j] += line
		}
		var firstAt time.Time
		for j, p := range paths {
			at := c.WaitText(b, p, "", want[j])
			if firstAt.IsZero() || at.Before(firstAt) {
				firstAt = at
			}
		}
		first = append(first, firstAt.Sub(written))
		all = append(all, time.Since(written))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	slices.Sort(first)
	slices.Sort(all)
	b.ReportMetric(ms(first[len(first)/2]), "first-ms")
	b.ReportMetric(ms(all[len(all)/2]), "all-ms")
	b.ReportMetric(ms(all[len(all)-1]), "worst-ms")
	b.ReportMetric(0, "ns/op")
}
