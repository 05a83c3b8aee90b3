package gaffer_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// AppendJSON must mean exactly what encoding/json would write for the same
// values: decoded, the two agree for any bytes.
func TestRecordJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	alphabet := []string{"a", "\x00", "\x1f", "\"", "\\", "\n", "\r", "\t", "\xff", "\xfe\xfd", "é", "日本", "\u2028", "<img>", "&", "\x7f", "\xe2\x82"}
	for n := 0; n < 2000; n++ {
		var sb strings.Builder
		for k := rng.Intn(30); k > 0; k-- {
			sb.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		rec := gaffer.Record{Seq: rng.Int63(), TS: time.Unix(0, rng.Int63()).In(time.FixedZone("x", 3600)),
			Host: "web-" + alphabet[rng.Intn(len(alphabet))], Stream: gaffer.Stderr, Data: []byte(sb.String()), NL: rng.Intn(2) == 0}
		if n%3 == 0 { // a follow job's record
			rec.File = "/var/log/" + alphabet[rng.Intn(len(alphabet))] + ".log"
			rec.Alert = rng.Intn(2) == 0
		}
		got := rec.AppendJSON(nil)
		if !json.Valid(got) {
			t.Fatalf("invalid JSON %q", got)
		}
		var a, b map[string]any
		json.Unmarshal(got, &a)
		m := map[string]any{"seq": rec.Seq, "ts": rec.TS.UTC(), "host": strings.ToValidUTF8(rec.Host, "\uFFFD"),
			"stream": rec.Stream, "text": rec.Text(), "nl": rec.NL}
		if rec.File != "" {
			m["file"] = strings.ToValidUTF8(rec.File, "\uFFFD")
		}
		if rec.Alert {
			m["alert"] = true
		}
		want, _ := json.Marshal(m)
		json.Unmarshal(want, &b)
		ga, _ := json.Marshal(a)
		gb, _ := json.Marshal(b)
		if string(ga) != string(gb) {
			t.Fatalf("record %q:\n got  %s\n want %s", rec.Data, got, want)
		}
	}
}

func BenchmarkRecordJSON(b *testing.B) {
	rec := gaffer.Record{Seq: 123456, TS: time.Now(), Host: "web-1", Stream: gaffer.Stdout, Data: []byte("GET /index.html 200 1234 0.002ms \"Mozilla/5.0\""), NL: true}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = rec.AppendJSON(buf[:0])
	}
}

// JSONEncoder writes what AppendJSON writes, record for record, whatever
// changes between them: ts (also the same instant in another zone), host,
// stream, file, text, nl, alert.
func TestJSONEncoderIsAppendJSON(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 123456789, time.UTC)
	recs := []gaffer.Record{
		{},
		{Seq: 1, TS: t0, Host: "web-1", Stream: gaffer.Stdout, Data: []byte("a"), NL: true},
		{Seq: 2, TS: t0, Host: "web-1", Stream: gaffer.Stdout, Data: []byte("b\"\xff"), NL: true},
		{Seq: 3, TS: t0.In(time.FixedZone("x", 3600)), Host: "web-1", Stream: gaffer.Stdout, Data: []byte("c")},
		{Seq: 4, TS: t0.Add(time.Nanosecond), Host: "web-1", Stream: gaffer.Stdout, Data: []byte("d"), NL: true},
		{Seq: 5, TS: t0.Add(time.Nanosecond), Host: "web-2", Stream: gaffer.Stdout, Data: []byte("e"), NL: true},
		{Seq: 6, TS: t0.Add(time.Nanosecond), Host: "web-2", Stream: gaffer.Stderr, Data: []byte("f"), NL: true, Alert: true},
		{Seq: 7, TS: t0.Add(time.Nanosecond), Host: "web-2", Stream: gaffer.Stderr, File: "/var/log/x.log", Data: []byte("g"), NL: true},
		{Seq: 8, TS: time.Time{}, Host: "web-2", Stream: gaffer.Stderr, Data: []byte("h")},
		{Seq: 9, TS: time.Time{}, Host: "h\"\u2028", Stream: "odd\n", Data: []byte("i")},
		{Seq: 10, TS: t0, Host: "web-1", Stream: gaffer.System, Data: []byte("j"), NL: true},
	}
	var enc gaffer.JSONEncoder
	for i := range recs {
		want := recs[i].AppendJSON(nil)
		if got := enc.Append(nil, &recs[i]); !bytes.Equal(got, want) {
			t.Errorf("record %d: encoder %s, AppendJSON %s", i, got, want)
		}
	}
}

// AppendSeq writes what strconv writes for any sequence of seqs: counting
// up across carries (9 → 10, 999999 → 1000000), the same seq twice (id and
// JSON of one event), jumps either way, zero, negatives and the extremes;
// and Append's seq is AppendSeq's.
func TestJSONEncoderSeq(t *testing.T) {
	var seqs []int64
	for s := int64(1); s <= 1200; s++ {
		seqs = append(seqs, s, s)
	}
	for s := int64(999_990); s <= 1_000_010; s++ {
		seqs = append(seqs, s)
	}
	seqs = append(seqs, 5, 4, 3, 0, 1, 0, -1, 0, -10, -9, -8, 99, 100, 98, 99, 100, 101,
		math.MaxInt64-1, math.MaxInt64, math.MinInt64, math.MinInt64+1, 1)
	var enc gaffer.JSONEncoder
	for i, s := range seqs {
		want := strconv.AppendInt([]byte("x"), s, 10)
		if got := enc.AppendSeq([]byte("x"), s); !bytes.Equal(got, want) {
			t.Fatalf("seq %d (after %v): AppendSeq %q, want %q", s, seqs[max(0, i-3):i], got, want)
		}
		rec := gaffer.Record{Seq: s, Host: "h", Stream: gaffer.Stdout, Data: []byte("t")}
		if got, want := enc.Append(nil, &rec), rec.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("seq %d: encoder %s, AppendJSON %s", s, got, want)
		}
	}
}

// BenchmarkJSONEncoder: a chunk's lines (same ts, host, stream) of 8 and
// 200 bytes of plain text, as a viewer encodes them.
func BenchmarkJSONEncoder(b *testing.B) {
	for _, width := range []int{8, 200} {
		b.Run(fmt.Sprint(width), func(b *testing.B) {
			rec := gaffer.Record{Seq: 123456, TS: time.Now(), Host: "web-1", Stream: gaffer.Stdout,
				Data: []byte(strings.Repeat("0123456789", 20)[:width]), NL: true}
			var enc gaffer.JSONEncoder
			buf := make([]byte, 0, 512)
			b.SetBytes(int64(width))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				rec.Seq++ // a viewer's records follow one another
				buf = enc.Append(buf[:0], &rec)
			}
		})
	}
}
