package archive

import (
	"bytes"
	"math/rand"
	"reflect"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// addRun counts most of a run's records in bulk; the index items and the
// builder's state after it are what addTo record by record makes, whatever
// the run's length, where it starts against StreamEvery, and what the
// stream held before (segments, gaps, other streams).
func TestAddRunIsAddToPerRecord(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for n := 0; n < 300; n++ {
		bulk, each := newSdxBuilder(), newSdxBuilder()
		var bb, eb []byte
		seq := int64(1)
		for step := 0; step < 1+rng.Intn(8); step++ {
			key := sname{host: []string{"a", "b"}[rng.Intn(2)], stream: "stdout"}
			if rng.Intn(5) == 0 {
				bulk.newSegment()
				each.newSegment()
			}
			if rng.Intn(3) == 0 {
				seq += int64(rng.Intn(3 * MinStreamGap)) // a gap in this stream's seqs
			}
			run := make([]gaffer.Record, rng.Intn(3*StreamEvery)+1)
			for i := range run {
				run[i] = gaffer.Record{Seq: seq, Data: make([]byte, rng.Intn(50))}
				seq++
			}
			off, ts := int64(rng.Intn(1<<20)), int64(rng.Intn(1000))
			var id uint32
			bb, id = bulk.stream(bb, key)
			bb = bulk.addRun(bb, id, run, ts, off)
			eb, id = each.stream(eb, key)
			for i := range run {
				eb = each.addTo(eb, id, run[i].Seq, ts, len(run[i].Data), off)
			}
			if !bytes.Equal(bb, eb) {
				t.Fatalf("case %d step %d: addRun wrote %d bytes of items, addTo %d", n, step, len(bb), len(eb))
			}
			if !reflect.DeepEqual(bulk, each) {
				t.Fatalf("case %d step %d: builder after addRun\n%+v\nafter addTo\n%+v", n, step, bulk, each)
			}
		}
	}
}
