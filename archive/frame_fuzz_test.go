package archive

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// FuzzDecodeFrame gives decodeFrame any body (a frame's CRC matched it).
// Nothing panics; what it accepts yields its records one by one, with the
// next seqs and data that adds up to the frame's; Read's path
// (appendRecords), skipTo and rest agree with them; and encoding the records
// again (appendRun) gives a frame that decodes to the same records.
func FuzzDecodeFrame(f *testing.F) {
	ts := time.Date(2026, 12, 2, 3, 4, 5, 6, time.UTC)
	runs := [][]gaffer.Record{
		{{Seq: 1, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte("hello"), NL: true}},
		{{Seq: 7, Host: "h", Stream: gaffer.Stderr, File: "/var/log/a.log", Data: nil, Alert: true}},
		{
			{Seq: 10, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: []byte("one"), NL: true},
			{Seq: 11, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: nil, NL: true, Alert: true},
			{Seq: 12, TS: ts, Host: "web-1", Stream: gaffer.Stdout, Data: bytes.Repeat([]byte("x"), 200)},
		},
		{
			{Seq: math.MaxInt64 - 1, Host: "", Stream: "custom", File: "f", Data: []byte("a"), NL: true},
			{Seq: math.MaxInt64, Host: "", Stream: "custom", File: "f", Data: []byte("b\x00\xff")},
		},
	}
	for _, run := range runs {
		f.Add(appendRun(nil, run)[frameHeader:])
	}
	f.Add(make([]byte, bodyFixed))
	bad := appendRun(nil, runs[2])[frameHeader:]
	f.Add(bad[:len(bad)-1]) // the lengths add up to more than the data

	f.Fuzz(func(t *testing.T, body []byte) {
		b, ok := decodeFrame(body, headerSize)
		if !ok {
			return
		}
		if b.n < 1 || !b.batch() && b.n != 1 {
			t.Fatalf("%d records in a frame (batch %v)", b.n, b.batch())
		}
		var recs []gaffer.Record
		var nm names
		data := 0
		for b.more() {
			fr := b.next()
			if fr.seq != b.seq+int64(len(recs)) || fr.off != headerSize {
				t.Fatalf("record %d: seq %d, off %d", len(recs), fr.seq, fr.off)
			}
			data += len(fr.data)
			recs = append(recs, fr.record(&nm))
		}
		if len(recs) != b.n || data != len(b.data) || b.last() != recs[len(recs)-1].Seq {
			t.Fatalf("%d records of %d bytes; the frame has %d of %d", len(recs), data, b.n, len(b.data))
		}

		// Read's path, from every record.
		for i := range recs {
			c, _ := decodeFrame(body, headerSize)
			size := 0
			got, whole := c.appendRecords(nil, recs[i].Seq-1, math.MaxInt, &size, &nm, new(gaffer.ReadBuffer))
			if len(got) == 0 || !sameRecords(got, recs[i:i+len(got)]) || whole != (i+len(got) == len(recs)) {
				t.Fatalf("appendRecords(after %d) = %d records, whole %v", recs[i].Seq-1, len(got), whole)
			}
			c, _ = decodeFrame(body, headerSize)
			c.skipTo(recs[i].Seq)
			if n, d := c.rest(); n != len(recs)-i || c.next().seq != recs[i].Seq {
				t.Fatalf("skipTo(%d): %d records, %d bytes left", recs[i].Seq, n, d)
			}
		}

		// Encoded again.
		frame := appendRun(nil, recs)
		again, n := frameAt(frame)
		if n != len(frame) {
			t.Fatalf("frameAt of an encoded frame: %d of %d bytes", n, len(frame))
		}
		c, ok := decodeFrame(again, 0)
		if !ok {
			t.Fatal("an encoded frame does not decode")
		}
		var got []gaffer.Record
		for c.more() {
			fr := c.next()
			got = append(got, fr.record(&nm))
		}
		if !sameRecords(got, recs) {
			t.Fatalf("encoded again: %+v\nwant %+v", got, recs)
		}
		if runSize(recs) != len(frame) || binary.LittleEndian.Uint32(frame) != uint32(len(frame)-frameHeader) {
			t.Fatalf("runSize %d, frame of %d bytes", runSize(recs), len(frame))
		}
	})
}

func sameRecords(a, b []gaffer.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Seq != y.Seq || !x.TS.Equal(y.TS) || x.Host != y.Host || x.Stream != y.Stream || x.File != y.File ||
			!bytes.Equal(x.Data, y.Data) || x.NL != y.NL || x.Alert != y.Alert {
			return false
		}
	}
	return true
}
