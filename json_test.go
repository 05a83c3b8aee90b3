package gaffer_test

import (
	"encoding/json"
	"math/rand"
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
