package gaffer_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// encodeAllLines encodes recs as lines objects, run after run, and returns
// them with the records each took.
func encodeAllLines(t *testing.T, recs []gaffer.Record) (objs [][]byte, runs []int) {
	t.Helper()
	var enc gaffer.JSONEncoder
	for len(recs) > 0 {
		b, n := enc.AppendLines([]byte("prefix"), recs)
		if n < 1 || n > len(recs) || n != gaffer.LinesRun(recs) {
			t.Fatalf("AppendLines took %d of %d records (LinesRun %d)", n, len(recs), gaffer.LinesRun(recs))
		}
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("AppendLines overwrote what it appends to: %q", b)
		}
		objs, runs = append(objs, b[len("prefix"):]), append(runs, n)
		recs = recs[n:]
	}
	return objs, runs
}

// checkLinesRoundTrip encodes recs as lines objects and checks that they
// are valid JSON and decode to recs, text made valid UTF-8, as each
// record's own JSON decodes.
func checkLinesRoundTrip(t *testing.T, recs []gaffer.Record) []int {
	t.Helper()
	objs, runs := encodeAllLines(t, recs)
	checkLinesRead(t, recs, objs)
	var back []gaffer.Record
	for _, o := range objs {
		if !json.Valid(o) {
			t.Fatalf("invalid JSON %q", o)
		}
		var err error
		if back, err = gaffer.DecodeLines(back, o); err != nil {
			t.Fatalf("decoding %q: %v", o, err)
		}
	}
	if len(back) != len(recs) {
		t.Fatalf("%d records back of %d", len(back), len(recs))
	}
	for i := range recs {
		want, got := recs[i], back[i]
		want.Data = []byte(strings.ToValidUTF8(string(want.Data), "\uFFFD"))
		want.Host = strings.ToValidUTF8(want.Host, "\uFFFD")
		want.Stream = gaffer.Stream(strings.ToValidUTF8(string(want.Stream), "\uFFFD"))
		want.File = strings.ToValidUTF8(want.File, "\uFFFD")
		if got.Seq != want.Seq || !got.TS.Equal(want.TS) || got.Host != want.Host || got.Stream != want.Stream ||
			got.File != want.File || !bytes.Equal(got.Data, want.Data) || got.NL != want.NL || got.Alert != want.Alert {
			t.Fatalf("record %d: back %+v, want %+v", i, got, want)
		}
	}
	return runs
}

// checkLinesRead checks that recs read into gaffer.Lines make the lines
// objects objs, span for span, and give recs back: filled a record at a
// time (AddRecords), and by a reader that begins every record anew (as at
// each frame of the archive).
func checkLinesRead(t *testing.T, recs []gaffer.Record, objs [][]byte) {
	t.Helper()
	var l, each gaffer.Lines
	l.Reset()
	l.AddRecords(recs)
	for i := range recs {
		r := &recs[i]
		each.Begin(r.Seq, r.TS, r.Host, r.Stream, r.File)
		each.Add(r.Data, r.NL, r.Alert)
	}
	var enc gaffer.JSONEncoder
	for _, l := range []*gaffer.Lines{&l, &each} {
		if len(l.Spans) != len(objs) || l.Len() != len(recs) {
			t.Fatalf("%d spans of %d records, want %d of %d", len(l.Spans), l.Len(), len(objs), len(recs))
		}
		for k := range l.Spans {
			if got := enc.AppendLinesSpan(nil, l, k); !bytes.Equal(got, objs[k]) {
				t.Fatalf("span %d: %s, want %s", k, got, objs[k])
			}
		}
		back := l.Records(nil)
		for i := range recs {
			if got, want := back[i].AppendJSON(nil), recs[i].AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("record %d back: %s, want %s", i, got, want)
			}
		}
		if n := len(recs); n > 0 && l.Last() != recs[n-1].Seq {
			t.Fatalf("Last %d, want %d", l.Last(), recs[n-1].Seq)
		}
	}
}

// A run ends where a record differs in anything but its text, where seqs
// jump, after a record without a newline, and past MaxLinesBytes.
func TestLinesRuns(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 2, 0, 0, 123456789, time.UTC)
	rec := func(seq int64, text string, change func(*gaffer.Record)) gaffer.Record {
		r := gaffer.Record{Seq: seq, TS: t0, Host: "web-1", Stream: gaffer.Stdout, Data: []byte(text), NL: true}
		if change != nil {
			change(&r)
		}
		return r
	}
	big := strings.Repeat("x", gaffer.MaxLinesBytes/2)
	tests := []struct {
		name string
		recs []gaffer.Record
		runs []int
	}{
		{"one", []gaffer.Record{rec(1, "a", nil)}, []int{1}},
		{"same", []gaffer.Record{rec(1, "a", nil), rec(2, "", nil), rec(3, "c\"\xff\n", nil)}, []int{3}},
		{"seq jumps", []gaffer.Record{rec(1, "a", nil), rec(3, "b", nil)}, []int{1, 1}},
		{"no newline ends a run", []gaffer.Record{rec(1, "a", func(r *gaffer.Record) { r.NL = false }), rec(2, "b", nil)}, []int{1, 1}},
		{"last without newline", []gaffer.Record{rec(1, "a", nil), rec(2, "b", func(r *gaffer.Record) { r.NL = false })}, []int{2}},
		{"ts", []gaffer.Record{rec(1, "a", nil), rec(2, "b", func(r *gaffer.Record) { r.TS = t0.Add(1) })}, []int{1, 1}},
		{"same instant, other zone", []gaffer.Record{rec(1, "a", nil), rec(2, "b", func(r *gaffer.Record) { r.TS = t0.In(time.FixedZone("x", 3600)) })}, []int{2}},
		{"host", []gaffer.Record{rec(1, "a", nil), rec(2, "b", func(r *gaffer.Record) { r.Host = "web-2" })}, []int{1, 1}},
		{"stream", []gaffer.Record{rec(1, "a", nil), rec(2, "b", func(r *gaffer.Record) { r.Stream = gaffer.Stderr })}, []int{1, 1}},
		{"file", []gaffer.Record{rec(1, "a", func(r *gaffer.Record) { r.File = "/var/log/a" }), rec(2, "b", func(r *gaffer.Record) { r.File = "/var/log/a" }),
			rec(3, "c", func(r *gaffer.Record) { r.File = "/var/log/b" })}, []int{2, 1}},
		{"alert", []gaffer.Record{rec(1, "a", nil), rec(2, "b", func(r *gaffer.Record) { r.Alert = true }), rec(3, "c", func(r *gaffer.Record) { r.Alert = true })}, []int{1, 2}},
		{"bytes", []gaffer.Record{rec(1, big, nil), rec(2, big, nil), rec(3, "c", nil), rec(4, big+big+big, nil)}, []int{2, 1, 1}},
		{"zero ts, odd names", []gaffer.Record{rec(1, "a", func(r *gaffer.Record) { r.TS, r.Host, r.Stream = time.Time{}, "h\"\u2028", "odd\n" }),
			rec(2, "b", func(r *gaffer.Record) { r.TS, r.Host, r.Stream = time.Time{}, "h\"\u2028", "odd\n" })}, []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if runs := checkLinesRoundTrip(t, tt.recs); !equalInts(runs, tt.runs) {
				t.Errorf("runs %v, want %v", runs, tt.runs)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A lines object holds what the line events of its records hold: the
// same JSON fields, text written by the same escaper.
func TestLinesMatchLineEvents(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 2, 0, 0, 5, time.UTC)
	recs := []gaffer.Record{
		{Seq: 7, TS: t0, Host: "web-1", Stream: gaffer.Stdout, File: "/var/log/a.log", Data: []byte("a\tb"), NL: true, Alert: true},
		{Seq: 8, TS: t0, Host: "web-1", Stream: gaffer.Stdout, File: "/var/log/a.log", Data: []byte("\u2028<x>"), Alert: true},
	}
	var enc gaffer.JSONEncoder
	got, n := enc.AppendLines(nil, recs)
	want := `{"seq":7,"ts":"2026-12-03T02:00:00.000000005Z","host":"web-1","stream":"stdout","file":"/var/log/a.log",` +
		`"lines":["a\tb","\u2028<x>"],"nl":false,"alert":true}`
	if n != 2 || string(got) != want {
		t.Fatalf("AppendLines = %s (%d records), want %s", got, n, want)
	}
	// The encoder's cached ts/host/stream stay right for the records after.
	rec := gaffer.Record{Seq: 9, TS: t0, Host: "web-2", Stream: gaffer.Stderr, Data: []byte("c"), NL: true}
	if got, want := enc.Append(nil, &rec), rec.AppendJSON(nil); !bytes.Equal(got, want) {
		t.Fatalf("Append after AppendLines = %s, want %s", got, want)
	}
}

// DecodeLines refuses what is not a lines object, in words.
func TestDecodeLinesErrors(t *testing.T) {
	for _, data := range []string{
		``, `[]`, `{"lines":["a"]}`, `{"seq":0,"lines":["a"]}`, `{"seq":-3,"lines":["a"]}`, `{"seq":1,"lines":[]}`,
		`{"seq":1}`, `{"seq":9223372036854775807,"lines":["a"]}`, `{"seq":1,"lines":[1]}`, `{"seq":1,"lines":["a"],"ts":"x"}`,
	} {
		if recs, err := gaffer.DecodeLines(nil, []byte(data)); err == nil || !strings.HasPrefix(err.Error(), "lines event: ") || len(recs) != 0 {
			t.Errorf("DecodeLines(%s) = %d records, %v", data, len(recs), err)
		}
	}
}

// FuzzLines: any records, split into runs and encoded, decode to
// themselves. Each byte of shape says how a record differs from the one
// before it; data is cut into the records' texts at '|'.
func FuzzLines(f *testing.F) {
	f.Add([]byte("a|b|c"), []byte{0, 0, 0})
	f.Add([]byte("\xff|\"\\|\u2028|\x00"), []byte{1, 2, 4, 8})
	f.Add([]byte("x||y|z"), []byte{16, 32, 64, 128, 3})
	f.Fuzz(func(t *testing.T, data []byte, shape []byte) {
		texts := bytes.Split(data, []byte("|"))
		r := gaffer.Record{Seq: 1, TS: time.Unix(0, 1_700_000_000_123_456_789), Host: "web-1", Stream: gaffer.Stdout, NL: true}
		var recs []gaffer.Record
		for i, text := range texts {
			var s byte
			if i < len(shape) {
				s = shape[i]
			}
			if i > 0 {
				r.Seq++
			}
			if s&1 != 0 {
				r.Seq += int64(s)
			}
			if s&2 != 0 {
				r.TS = r.TS.Add(time.Duration(s))
			}
			if s&4 != 0 {
				r.Host = r.Host + "\xff"
			}
			if s&8 != 0 {
				r.Stream = gaffer.Stderr
			}
			if s&16 != 0 {
				r.File = string(text)
			}
			r.Alert = s&32 != 0
			r.NL = s&64 == 0
			r.Data = text
			recs = append(recs, r)
		}
		checkLinesRoundTrip(t, recs)
	})
}

// Reset keeps a read's memory for the next, but not text a long record
// grew far past a read's bound: a viewer holds one read's worth.
func TestLinesResetBoundsMemory(t *testing.T) {
	var l gaffer.Lines
	l.Begin(1, time.Time{}, "web-1", gaffer.Stdout, "")
	l.Add(make([]byte, 100), true, false)
	l.Reset()
	if cap(l.Text) < 100 || l.Len() != 0 || len(l.Spans) != 0 {
		t.Fatalf("after a small read: cap %d, %d records, %d spans; want the memory kept, nothing held", cap(l.Text), l.Len(), len(l.Spans))
	}
	l.Begin(2, time.Time{}, "web-1", gaffer.Stdout, "")
	l.Add(make([]byte, 8*gaffer.MaxReadBytes), true, false)
	l.Reset()
	if cap(l.Text) > 4*gaffer.MaxReadBytes {
		t.Fatalf("after a long record: cap %d kept", cap(l.Text))
	}
}
