package redis

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// fuzzRecords makes consecutive records from input, one per line; the
// line's first byte picks the host, the stream and the time.
func fuzzRecords(first int64, input []byte) []gaffer.Record {
	streams := []gaffer.Stream{gaffer.Stdout, gaffer.Stderr, gaffer.System, "custom", ""}
	hosts := []string{"web-1", "web-2", "", "h\x00\xff"}
	var recs []gaffer.Record
	lines := bytes.Split(input, []byte("\n"))
	for i, l := range lines {
		var c byte
		if len(l) > 0 {
			c = l[0]
		}
		ts := time.Unix(int64(c)*1_000_003-100_000_000, int64(c)*3_921_569).In(time.FixedZone("x", -7200))
		if c == 0 {
			ts = time.Time{}
		}
		recs = append(recs, gaffer.Record{
			Seq:    first + int64(i),
			TS:     ts,
			Host:   hosts[int(c>>4)%len(hosts)],
			Stream: streams[int(c)%len(streams)],
			Data:   l,
			NL:     i < len(lines)-1,
		})
	}
	return recs
}

// FuzzCodecRoundTrip encodes records made from the input into entries and
// decodes them back, whole and through a window (after, limit).
func FuzzCodecRoundTrip(f *testing.F) {
	f.Add(int64(7), []byte("\nsame host\n\x00\xff\nafter a big one"), int64(8), uint16(1))
	f.Add(int64(1), bytes.Repeat([]byte("short line\n"), 600), int64(0), uint16(100))
	f.Add(int64(1), bytes.Repeat([]byte("y"), 100<<10), int64(0), uint16(0))
	f.Add(int64(math.MaxInt64-2), []byte("a\nb\nc"), int64(-5), uint16(2))

	f.Fuzz(func(t *testing.T, first int64, input []byte, after int64, limit uint16) {
		if first > math.MaxInt64-int64(bytes.Count(input, []byte("\n"))) {
			t.Skip("seqs would overflow")
		}
		recs := fuzzRecords(first, input)
		blobs, lasts := encodeEntries(recs)
		if len(blobs) != len(lasts) || lasts[len(lasts)-1] != recs[len(recs)-1].Seq {
			t.Fatalf("%d entries, lasts %v, for records up to %d", len(blobs), lasts, recs[len(recs)-1].Seq)
		}
		var got []gaffer.Record
		for i, b := range blobs {
			n := len(got)
			var err error
			if got, err = decodeEntry(got, b, math.MinInt64, math.MaxInt); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			} else if len(got) == n || got[len(got)-1].Seq != lasts[i] {
				t.Fatalf("entry %d ends at seq %d, want %d", i, got[len(got)-1].Seq, lasts[i])
			} else if n := len(got) - n; n > maxEntryRecords || len(b) > maxEntryBytes+len(recs[len(got)-1].Data)+1024 && n > 1 {
				t.Fatalf("entry %d: %d records in %d bytes", i, n, len(b))
			}
		}
		if len(got) != len(recs) {
			t.Fatalf("decoded %d records, want %d", len(got), len(recs))
		}
		for i := range recs {
			if !sameRecord(got[i], recs[i]) {
				t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], recs[i])
			} else if cap(got[i].Data) != len(got[i].Data) {
				t.Fatalf("record %d: Data not capped", i)
			}
		}

		// A window of the first entry.
		lim := int(limit) + 1
		win, err := decodeEntry(nil, blobs[0], after, lim)
		if err != nil {
			t.Fatal(err)
		}
		var want []gaffer.Record
		for _, r := range got {
			if r.Seq > after && r.Seq <= lasts[0] && len(want) < lim {
				want = append(want, r)
			}
		}
		if len(win) != len(want) {
			t.Fatalf("decodeEntry(after=%d, limit=%d) = %d records, want %d", after, lim, len(win), len(want))
		}
		for i := range want {
			if !sameRecord(win[i], want[i]) {
				t.Fatalf("window record %d:\n got %+v\nwant %+v", i, win[i], want[i])
			}
		}
	})
}

func sameRecord(a, b gaffer.Record) bool {
	return a.Seq == b.Seq && a.TS.Equal(b.TS) && a.Host == b.Host && a.Stream == b.Stream &&
		bytes.Equal(a.Data, b.Data) && a.NL == b.NL
}

// FuzzDecodeEntry decodes any bytes: no panic, at most limit records, all
// after `after`, in seq order, their Data within the entry and capped.
// Entries that decode without error encode back to the same records.
func FuzzDecodeEntry(f *testing.F) {
	blobs, _ := encodeEntries(fuzzRecords(7, []byte("\nsame host\n\x00\xff\n\x03custom\nlast")))
	for _, b := range blobs {
		f.Add(b, int64(0), uint16(100))
		f.Add(b, int64(8), uint16(0))
		for n := 0; n < len(b); n += 7 {
			f.Add(b[:n], int64(0), uint16(100))
		}
	}
	f.Add([]byte{}, int64(0), uint16(1))
	f.Add([]byte{2, 1, 1}, int64(0), uint16(1))
	f.Add(binary.AppendUvarint([]byte{1, 1}, math.MaxUint64), int64(0), uint16(1000))

	f.Fuzz(func(t *testing.T, b []byte, after int64, limit uint16) {
		lim := int(limit)
		entry := bytes.Clone(b)
		got, err := decodeEntry(nil, entry, after, lim)
		if len(got) > lim {
			t.Fatalf("%d records, limit %d", len(got), lim)
		}
		for i, r := range got {
			if r.Seq <= after || i > 0 && r.Seq <= got[i-1].Seq {
				t.Fatalf("record %d has seq %d (after %d, previous %v)", i, r.Seq, after, got[:i])
			} else if cap(r.Data) != len(r.Data) {
				t.Fatalf("record %d: Data not capped", i)
			} else if len(r.Data) > 0 && !within(r.Data, entry) {
				t.Fatalf("record %d: Data outside the entry", i)
			}
		}
		if err != nil {
			if err != errCorrupt {
				t.Fatalf("error %v, want errCorrupt", err)
			}
			return
		}
		// What decodes re-encodes to the same records.
		if len(got) == 0 {
			return
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq != got[i-1].Seq+1 {
				return // a window of an entry whose seqs wrapped around
			}
		}
		again, err := decodeEntry(nil, encodeEntry(got, 0), math.MinInt64, math.MaxInt)
		if err != nil {
			t.Fatal(err)
		} else if len(again) != len(got) {
			t.Fatalf("re-encoded %d records, decoded %d", len(got), len(again))
		}
		for i := range got {
			if !sameRecord(again[i], got[i]) {
				t.Fatalf("record %d:\n got %+v\nwant %+v", i, again[i], got[i])
			}
		}
	})
}

// within reports whether s lies inside b's memory.
func within(s, b []byte) bool {
	for i := range b {
		if &b[i] == &s[0] {
			return i+len(s) <= len(b)
		}
	}
	return false
}
