package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gaffer-dev/gaffer"
)

// The hand-written record parser must agree with encoding/json on every
// line it accepts; on the others the decoder falls back to encoding/json.
func FuzzLogsParseRecord(f *testing.F) {
	for _, s := range []string{
		`{"seq":1,"ts":"2026-11-25T22:01:02.123456789Z","host":"web-1","stream":"stdout","text":"GET / 200","nl":true}`,
		`{"seq":17,"ts":"x","host":"h","stream":"stderr","text":"a\"b\\c\u00e9\ud83d\ude00\ud800\n\t\r\u2028\ufffd","nl":false}`,
		`{"seq":01,"ts":"","host":"","stream":"","text":"","nl":true}`,
		`{"seq":2,"ts":"","host":"","stream":"","text":"caf` + "\xc3\xa9" + `","nl":true}`,
		`{"seq":2,"ts":"","host":"","stream":"","text":"bad` + "\xff" + `","nl":true}`,
		`{"seq":3,"ts":"","host":"","stream":"","text":"\/\b\f\u00","nl":true}`,
		`{"seq":4,"ts":"","host":"web","stream":"stdout","file":"/var/log/a b\u00e9.log","text":"x","nl":true,"alert":true}`,
		`{"seq":5,"ts":"","host":"web","stream":"system","file":"","text":"x","nl":false,"alert":false}`,
		`{"seq":6,"ts":"","host":"web","stream":"stdout","file":"\"","text":"x","nl":false,"alert":true,"alert":false}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var d recordDecoder
		if !bytes.HasPrefix(line, prefixSeq) || !d.parseFast(line) {
			return
		}
		var v wireLine
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("fast parser accepted %q, encoding/json says %v", line, err)
		}
		got := d.rec
		if v.Seq == nil || *v.Seq != got.Seq || v.TS != string(got.TS) || v.Host != string(got.Host) ||
			v.Stream != string(got.Stream) || v.File != string(got.File) || v.Text != string(got.Text) || v.NL != got.NL ||
			v.Alert != got.Alert || v.Gap != nil || v.Done != nil {
			t.Fatalf("%q:\nfast %+v\njson %+v", line, got, v)
		}
	})
}

// Every record the server writes (gaffer.Record.AppendJSON) takes the fast
// path and comes back as it was, invalid UTF-8 shown as U+FFFD.
func FuzzLogsRecordRoundTrip(f *testing.F) {
	f.Add(int64(1), int64(1764108062123456789), "web-1", "stdout", "", []byte("hello"), true, false)
	f.Add(int64(5000000), int64(0), "h\"ost", "stderr", "", []byte("a\rb\x1b[31m\xff\xfe\u2028\\\"\x00"), false, false)
	f.Add(int64(7), int64(1764108062123456789), "web-1", "stdout", "/var/log/nginx/error.log", []byte("[error] x"), true, true)
	f.Fuzz(func(t *testing.T, seq, nanos int64, host, stream, file string, data []byte, nl, alert bool) {
		if seq < 0 || seq >= 1e18 {
			return
		}
		r := gaffer.Record{Seq: seq, TS: time.Unix(0, nanos).UTC(), Host: host, Stream: gaffer.Stream(stream), File: file,
			Data: data, NL: nl, Alert: alert}
		line := r.AppendJSON(nil)
		var d recordDecoder
		if !d.parseFast(line) {
			t.Fatalf("fast parser refused %q", line)
		}
		got := d.rec
		ts, _ := r.TS.MarshalText()
		if got.Seq != seq || string(got.TS) != string(ts) || string(got.Host) != strings.ToValidUTF8(host, "\uFFFD") ||
			string(got.Stream) != strings.ToValidUTF8(stream, "\uFFFD") || string(got.File) != strings.ToValidUTF8(file, "\uFFFD") ||
			string(got.Text) != r.Text() || got.NL != nl || got.Alert != alert {
			t.Fatalf("%q: got %+v", line, got)
		}
	})
}

// Lines of another shape, notices and trailers are all read.
func TestLogsDecodeLines(t *testing.T) {
	in := `{"seq":1,"ts":"2026-11-25T22:01:02Z","host":"a","stream":"stdout","text":"fast","nl":true}
{"nl":true,"text":"other order","stream":"stderr","host":"b","ts":"2026-11-25T22:01:03Z","seq":2,"extra":1}
{"gap":{"from":3,"to":4},"message":"records 3–4 of this log were lost"}
{"done":false,"scanned_to":9,"matches":2}
`
	var got []string
	err := readLogLines(strings.NewReader(in), logHandler{
		record:  func(r *logRecord, _ []byte) error { got = append(got, string(r.Host)+":"+string(r.Text)); return nil },
		gap:     func(g gapNotice, _ []byte) error { got = append(got, "gap:"+g.Message); return nil },
		trailer: func(tr searchTrailer) error { got = append(got, "trailer"); return nil },
	})
	want := "a:fast|b:other order|gap:records 3–4 of this log were lost|trailer"
	if err != nil || strings.Join(got, "|") != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"{\"seq\":1,\n", "not json\n", "{\"hello\":1}\n"} {
		if err := readLogLines(strings.NewReader(bad), logHandler{}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// A line longer than the reader's buffer.
	long := gaffer.Record{Seq: 1, Host: "h", Stream: gaffer.Stdout, Data: bytes.Repeat([]byte("\x01"), 200<<10), NL: true}
	var n int
	err = readLogLines(bytes.NewReader(append(long.AppendJSON(nil), '\n')), logHandler{record: func(r *logRecord, _ []byte) error { n = len(r.Text); return nil }})
	if err != nil || n != 200<<10 || !utf8.Valid(long.Data) {
		t.Fatalf("long line: %d bytes, %v", n, err)
	}
}

// The printing loop of `gaffer logs ID > file`: decode and print records.
func BenchmarkLogsPrint(b *testing.B) {
	var buf bytes.Buffer
	ts := time.Now().UTC()
	for i := 1; i <= 100000; i++ {
		r := gaffer.Record{Seq: int64(i), TS: ts, Host: "local", Stream: gaffer.Stdout, Data: []byte(strings.Repeat("x", i%20)), NL: true}
		buf.Write(append(r.AppendJSON(nil), '\n'))
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		p := &printer{out: bufio.NewWriterSize(io.Discard, 64<<10), errOut: bufio.NewWriter(io.Discard)}
		if err := readLogLines(bytes.NewReader(buf.Bytes()), logHandler{record: func(r *logRecord, _ []byte) error { p.record(r); return nil }}); err != nil {
			b.Fatal(err)
		}
		p.finish()
	}
}

// FuzzDecodeLines: a lines event's data decodes by hand (parseLinesFast)
// only to what gaffer.DecodeLines makes of it, the records of any run the
// server writes take the hand path, and each record's JSON for -o json
// (recordJSON) is what the server writes of that record.
func FuzzDecodeLines(f *testing.F) {
	for _, s := range []string{
		`{"seq":1,"ts":"2026-11-25T22:01:02.123456789Z","host":"web-1","stream":"stdout","lines":["a","b"],"nl":true}`,
		`{"seq":7,"ts":"2026-11-25T22:01:02Z","host":"h","stream":"stderr","file":"/f","lines":["a\"b\\c\u00e9\ud83d\ude00\ud800\n","\u2028",""],"nl":false,"alert":true}`,
		`{"seq":0,"ts":"2026-11-25T22:01:02Z","host":"h","stream":"s","lines":["a"],"nl":true}`,
		`{"seq":3,"ts":"x","host":"h","stream":"s","lines":["a"],"nl":true}`,
		`{"seq":3,"ts":"2026-11-25T22:01:02Z","host":"h","stream":"s","lines":[],"nl":true}`,
		`{"seq":3,"ts":"2026-11-25T22:01:02Z","host":"h","stream":"s","lines":["a",],"nl":true}`,
		`{"seq":3,"ts":"2026-11-25T22:01:02Z","host":"h","stream":"s","lines":["bad` + "\xff" + `"],"nl":true}`,
	} {
		f.Add([]byte(s), int64(0), false)
	}
	f.Add([]byte("one\ntwo\n\xff\"\\\x00"), int64(1764108062123456789), true)
	f.Fuzz(func(t *testing.T, data []byte, nanos int64, alert bool) {
		var d recordDecoder
		if fast, ok := d.parseLinesFast(data); ok {
			want, err := gaffer.DecodeLines(nil, data)
			if err != nil {
				t.Fatalf("fast parser took %q, DecodeLines says %v", data, err)
			}
			checkLinesRecords(t, data, fast, want)
		}
		// data's lines as one run, as the server writes it.
		var recs []gaffer.Record
		for i, l := range bytes.Split(data, []byte("\n")) {
			recs = append(recs, gaffer.Record{Seq: int64(i + 1), TS: time.Unix(0, nanos).UTC(), Host: "web-1", Stream: gaffer.Stdout,
				Data: l, NL: true, Alert: alert})
		}
		recs[len(recs)-1].NL = false
		var enc gaffer.JSONEncoder
		obj, n := enc.AppendLines(nil, recs)
		if n != len(recs) {
			return // longer than one run
		}
		got, ok := d.parseLinesFast(obj)
		if !ok {
			t.Fatalf("fast parser refused %q", obj)
		}
		want, _ := gaffer.DecodeLines(nil, obj)
		checkLinesRecords(t, obj, got, want)
		for i := range got {
			back := recs[i]
			back.Data = []byte(strings.ToValidUTF8(string(back.Data), "\uFFFD"))
			if js, w := d.recordJSON(&got[i]), back.AppendJSON(nil); !bytes.Equal(js, w) {
				t.Fatalf("record %d's JSON %s, the server's %s", i, js, w)
			}
		}
	})
}

// checkLinesRecords compares the hand-decoded records of a lines event
// with DecodeLines's.
func checkLinesRecords(t *testing.T, data []byte, got []logRecord, want []gaffer.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%q: %d records by hand, %d by DecodeLines", data, len(got), len(want))
	}
	for i := range want {
		g, w := &got[i], &want[i]
		ts, err := time.Parse(time.RFC3339Nano, string(g.TS))
		if g.Seq != w.Seq || err != nil || !ts.Equal(w.TS) || string(g.Host) != w.Host || string(g.Stream) != string(w.Stream) ||
			string(g.File) != w.File || string(g.Text) != string(w.Data) || g.NL != w.NL || g.Alert != w.Alert {
			t.Fatalf("%q record %d:\nhand %+v\njson %+v", data, i, *g, *w)
		}
	}
}
