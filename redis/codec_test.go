package redis

import (
	"bytes"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

func TestCodec(t *testing.T) {
	big := bytes.Repeat([]byte("y"), 100<<10)
	recs := []gaffer.Record{
		{Seq: 7, TS: time.Time{}, Host: "", Stream: gaffer.Stdout, Data: nil},
		{Seq: 8, TS: time.Date(1969, 1, 2, 3, 4, 5, 6, time.UTC), Host: "a", Stream: gaffer.Stderr, Data: []byte("\x00\xff"), NL: true},
		{Seq: 9, TS: time.Unix(1700000000, 999999999), Host: "a", Stream: gaffer.System, Data: []byte("same host")},
		{Seq: 10, TS: time.Unix(1, 0), Host: "b", Stream: "custom", Data: big, NL: true},
		{Seq: 11, TS: time.Unix(2, 0), Host: "b", Stream: gaffer.Stdout, Data: []byte("after a big one")},
		{Seq: 12, TS: time.Unix(3, 0), Host: "b", Stream: gaffer.Stdout, File: "/var/log/x.log", Data: []byte("followed"), NL: true, Alert: true},
		{Seq: 13, TS: time.Unix(3, 0), Host: "b", Stream: gaffer.Stdout, File: "/var/log/x.log", Data: []byte("again")},
	}
	blobs, lasts := encodeEntries(recs)
	if len(blobs) != 2 || lasts[0] != 10 || lasts[1] != 13 {
		t.Fatalf("entries end at %v, want [10 13] (split after the big record)", lasts)
	}
	var got []gaffer.Record
	for _, b := range blobs {
		var err error
		if got, err = decodeEntry(got, b, 0, 100); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(recs) {
		t.Fatalf("decoded %d records, want %d", len(got), len(recs))
	}
	for i, want := range recs {
		g := got[i]
		if g.Seq != want.Seq || !g.TS.Equal(want.TS) || g.Host != want.Host || g.Stream != want.Stream ||
			!bytes.Equal(g.Data, want.Data) || g.NL != want.NL || g.File != want.File || g.Alert != want.Alert {
			t.Errorf("record %d:\n got %+v\nwant %+v", want.Seq, g, want)
		}
	}
	if cap(got[1].Data) != len(got[1].Data) {
		t.Error("decoded Data is not capped: an append would overwrite the next record")
	}

	// after and limit select a window of one entry.
	got, err := decodeEntry(nil, blobs[0], 8, 1)
	if err != nil || len(got) != 1 || got[0].Seq != 9 {
		t.Fatalf("decodeEntry(after=8, limit=1) = %v, %v; want seq 9", got, err)
	}
	// Truncated entries fail, never panic.
	for n := 0; n < len(blobs[0]); n += 7 {
		if _, err := decodeEntry(nil, blobs[0][:n], 0, 100); err == nil {
			t.Fatalf("decoding %d of %d bytes succeeded", n, len(blobs[0]))
		}
	}
}

func TestEncodeEntriesBounds(t *testing.T) {
	recs := make([]gaffer.Record, 5000)
	for i := range recs {
		recs[i] = gaffer.Record{Seq: int64(i + 1), Host: "h", Data: []byte("short line")}
	}
	blobs, lasts := encodeEntries(recs)
	if len(blobs) != 5000/maxEntryRecords+1 {
		t.Errorf("%d entries for 5000 short records, want %d", len(blobs), 5000/maxEntryRecords+1)
	}
	if lasts[len(lasts)-1] != 5000 {
		t.Errorf("last entry ends at %d", lasts[len(lasts)-1])
	}
	for _, b := range blobs {
		if len(b) > maxEntryBytes+1024 {
			t.Errorf("entry of %d bytes", len(b))
		}
	}
}
