package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// parseRecordWant decodes data with encoding/json alone: what parseRecord
// must return.
func parseRecordWant(t *testing.T, data []byte) record {
	t.Helper()
	var v struct {
		Seq    int64  `json:"seq"`
		TS     string `json:"ts"`
		Stream string `json:"stream"`
		Text   string `json:"text"`
		NL     *bool  `json:"nl"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("encoding/json of %s: %v", data, err)
	}
	return record{Seq: v.Seq, TS: []byte(v.TS), Stream: []byte(v.Stream), Text: []byte(v.Text), Partial: v.NL != nil && !*v.NL}
}

func sameRecord(a, b record) bool {
	return a.Seq == b.Seq && bytes.Equal(a.TS, b.TS) && bytes.Equal(a.Stream, b.Stream) &&
		bytes.Equal(a.Text, b.Text) && a.Partial == b.Partial
}

// TestParseRecordMatchesJSON: parseRecord reads the records the server
// writes (gaffer.Record.AppendJSON) as encoding/json does, on the one-pass
// path when no string needs decoding and through encoding/json otherwise.
func TestParseRecordMatchesJSON(t *testing.T) {
	ts := time.Date(2026, 12, 2, 5, 40, 22, 123456789, time.UTC)
	long := strings.Repeat("0123456789", 20)
	cases := []struct {
		name string
		rec  gaffer.Record
		fast bool // parsed without encoding/json
	}{
		{"seq line", gaffer.Record{Seq: 1, Data: []byte("1"), NL: true}, true},
		{"big seq", gaffer.Record{Seq: 123456789012345678, Data: []byte("x"), NL: true}, true},
		{"seq past the fast digits", gaffer.Record{Seq: 1234567890123456789, Data: []byte("x"), NL: true}, false},
		{"seq 0", gaffer.Record{Seq: 0, Data: []byte("x"), NL: true}, true},
		{"200 B", gaffer.Record{Seq: 42, Data: []byte(long), NL: true}, true},
		{"empty text", gaffer.Record{Seq: 7, NL: true}, true},
		{"nl false", gaffer.Record{Seq: 8, Data: []byte("part"), NL: false}, true},
		{"stderr", gaffer.Record{Seq: 9, Stream: gaffer.Stderr, Data: []byte("oops"), NL: true}, true},
		{"file", gaffer.Record{Seq: 10, File: "/var/log/syslog", Data: []byte("hello"), NL: true}, true},
		{"alert", gaffer.Record{Seq: 11, Data: []byte("ERROR x"), NL: true, Alert: true}, true},
		{"alert nl false", gaffer.Record{Seq: 12, Data: []byte("ERROR x"), NL: false, Alert: true}, true},
		{"file alert nl false", gaffer.Record{Seq: 13, File: "/f", Data: []byte("e"), Alert: true}, true},
		{"unicode", gaffer.Record{Seq: 14, Data: []byte("héllo wörld — 日本語 🚀 done, and more text"), NL: true}, true},
		{"unicode at word ends", gaffer.Record{Seq: 15, Data: []byte("1234567é12345678🚀"), NL: true}, true},
		{"quote", gaffer.Record{Seq: 16, Data: []byte(`say "hi"`), NL: true}, false},
		{"backslash", gaffer.Record{Seq: 17, Data: []byte(`C:\dir`), NL: true}, false},
		{"tab", gaffer.Record{Seq: 18, Data: []byte("a\tb"), NL: true}, false},
		{"control byte", gaffer.Record{Seq: 19, Data: []byte("a\x01b\x1f"), NL: true}, false},
		{"carriage return", gaffer.Record{Seq: 20, Data: []byte("progress 50%\r"), NL: false}, false},
		{"invalid UTF-8", gaffer.Record{Seq: 21, Data: []byte("bad \xff\xfe bytes \xc3"), NL: true}, false},
		{"U+2028", gaffer.Record{Seq: 22, Data: []byte("a\u2028b\u2029c"), NL: true}, false},
		{"text like fields", gaffer.Record{Seq: 23, Data: []byte(`,"nl":false}`), NL: true}, false},
		{"escaped file", gaffer.Record{Seq: 24, File: `/tmp/a"b`, Data: []byte("x"), NL: true}, false},
		{"unicode host", gaffer.Record{Seq: 25, Host: "hôte", Data: []byte("x"), NL: true}, true},
		{"escaped host", gaffer.Record{Seq: 26, Host: `h"1`, Data: []byte("x"), NL: false, Alert: true}, false},
		{"html", gaffer.Record{Seq: 27, Data: []byte("<a href='x'>&amp;</a>"), NL: true}, true},
		{"escape after a long run", gaffer.Record{Seq: 28, Data: []byte(long + "\"" + long), NL: true}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := c.rec
			rec.TS = ts
			if rec.Host == "" {
				rec.Host = hostName
			}
			if rec.Stream == "" {
				rec.Stream = gaffer.Stdout
			}
			data := rec.AppendJSON(nil)
			want := parseRecordWant(t, data)
			got, err := parseRecord(data)
			if err != nil {
				t.Fatalf("parseRecord(%s): %v", data, err)
			}
			if !sameRecord(got, want) {
				t.Errorf("parseRecord(%s) = %+v\nencoding/json: %+v", data, got, want)
			}
			fast, ok := parseRecordFast(data)
			if ok != c.fast {
				t.Errorf("parseRecordFast(%s): ok %v, want %v", data, ok, c.fast)
			}
			if ok && !sameRecord(fast, want) {
				t.Errorf("parseRecordFast(%s) = %+v\nencoding/json: %+v", data, fast, want)
			}
		})
	}
}

// TestParseRecordOtherShapes: JSON the server does not write (spaces,
// another order, other fields) still parses as encoding/json reads it, and
// what is not a record fails with parseRecord's errors.
func TestParseRecordOtherShapes(t *testing.T) {
	ts := `"2026-12-02T05:40:22.123456789Z"`
	for _, data := range []string{
		`{"seq": 5, "ts": ` + ts + `, "host": "h1", "stream": "stdout", "text": "a", "nl": true}`,
		`{"text":"b","seq":6,"nl":false,"stream":"stdout","ts":` + ts + `,"host":"h1"}`,
		`{"seq":7,"ts":` + ts + `,"host":"h1","stream":"stdout","text":"c","nl":true,"extra":1}`,
		`{"seq":8,"ts":` + ts + `,"host":"h1","stream":"stdout","text":"d","nl":false,"alert":false}`,
		`{"seq":9,"ts":` + ts + `,"host":"h1","stream":"stdout","text":"e"}`,
		`{"seq":10,"ts":` + ts + `,"host":"h1","stream":"stdout","text":"f","nl":true} `,
		`{"seq":11,"ts":` + ts + `,"host":"h1","stream":"stdout","text":"\u0041\n","nl":true}`,
		`{"seq":12,"ts":` + ts + `,"host":"h1","stream":"stdout","text":"raw ` + "\xff" + `","nl":true}`,
		`{"seq":-3,"ts":` + ts + `,"host":"h1","stream":"stdout","text":"g","nl":true}`,
	} {
		want := parseRecordWant(t, []byte(data))
		got, err := parseRecord([]byte(data))
		if err != nil {
			t.Errorf("parseRecord(%s): %v", data, err)
			continue
		}
		if !sameRecord(got, want) {
			t.Errorf("parseRecord(%s) = %+v\nencoding/json: %+v", data, got, want)
		}
	}
	for _, c := range []struct{ data, err string }{
		{`{"ts":` + ts + `,"text":"a"}`, `no seq in `},
		{`{"seq":x1,"text":"a"}`, `seq in {"seq":x1,"text":"a"}: strconv.ParseInt: parsing "x1": invalid syntax`},
		{`{"seq":1,"text":"a\"}`, `record {"seq":1,"text":"a\"}: unexpected end of JSON input`},
		{`{"seq":1,"text":"a",}`, `record {"seq":1,"text":"a",}: invalid character '}' looking for beginning of object key string`},
		{`{"seq":1,"text":"a` + "\x01" + `"}`, `record {"seq":1,"text":"a` + "\x01" + `"}: invalid character '\x01' in string literal`},
		{`{"seq":1,"ts":` + ts + `,"host":"h1","stream":"stdout","text":"a","nl":true}}`, `record `},
	} {
		_, err := parseRecord([]byte(c.data))
		if err == nil || !strings.HasPrefix(err.Error(), c.err) {
			t.Errorf("parseRecord(%s): error %v, want %s…", c.data, err, c.err)
		}
	}
}

// TestParseRecordRandomText: texts of random bytes (quotes, backslashes,
// control bytes, bytes ≥ 0x80, multi-byte runes, at every offset of the
// 8-byte words the fast path reads) parse as encoding/json reads them, both
// as the server writes them and put in the JSON raw, unescaped.
func TestParseRecordRandomText(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ts := time.Date(2026, 12, 2, 5, 40, 22, 123456789, time.UTC)
	pick := []string{"a", "Z", "0", " ", "~", "\x7f", `"`, `\`, "\x00", "\x01", "\n", "\x1f",
		"\x80", "\xbf", "\xc3", "\xff", "é", "日", "🚀", "\u2028", "!", "#", "]", "^"}
	for i := range 20000 {
		var text []byte
		for range rng.IntN(40) {
			if rng.IntN(4) == 0 {
				text = append(text, pick[rng.IntN(len(pick))]...)
			} else {
				text = append(text, byte('a'+rng.IntN(26)))
			}
		}
		rec := gaffer.Record{Seq: int64(i + 1), TS: ts, Host: hostName, Stream: gaffer.Stdout, Data: text, NL: rng.IntN(2) == 0, Alert: rng.IntN(3) == 0}
		data := rec.AppendJSON(nil)
		got, err := parseRecord(data)
		if want := parseRecordWant(t, data); err != nil || !sameRecord(got, want) {
			t.Fatalf("parseRecord(%q) = %+v, %v\nencoding/json: %+v", data, got, err, want)
		}
		raw := fmt.Appendf(nil, `{"seq":%d,"ts":"%s","host":"h1","stream":"stdout","text":"%s","nl":true}`,
			i+1, ts.Format(time.RFC3339Nano), text)
		got, err = parseRecord(raw)
		if !json.Valid(raw) {
			if err == nil {
				t.Fatalf("parseRecord(%q) = %+v, want an error (not JSON)", raw, got)
			}
			continue
		}
		if want := parseRecordWant(t, raw); err != nil || !sameRecord(got, want) {
			t.Fatalf("parseRecord(%q) = %+v, %v\nencoding/json: %+v", raw, got, err, want)
		}
	}
}

// linesWant decodes a lines event with gaffer.DecodeLines: what
// linesParser must hand on, record by record.
func linesWant(t *testing.T, data []byte) []record {
	t.Helper()
	recs, err := gaffer.DecodeLines(nil, data)
	if err != nil {
		t.Fatalf("DecodeLines(%s): %v", data, err)
	}
	var want []record
	for _, r := range recs {
		want = append(want, record{Seq: r.Seq, TS: r.TS.AppendFormat(nil, time.RFC3339Nano), Stream: []byte(r.Stream),
			Text: r.Data, Partial: !r.NL})
	}
	return want
}

// parseLinesAll runs data through a linesParser, copying each record.
func parseLinesAll(p *linesParser, data []byte) ([]record, error) {
	var got []record
	err := p.parse(data, func(r record) error {
		got = append(got, record{Seq: r.Seq, TS: bytes.Clone(r.TS), Stream: bytes.Clone(r.Stream), Text: bytes.Clone(r.Text), Partial: r.Partial})
		return nil
	})
	return got, err
}

// TestParseLinesMatchesDecodeLines: lines events of random runs (texts of
// random bytes, file, alert, a last line without a newline) parse as
// gaffer.DecodeLines reads them, on the one-pass path and off it, and the
// parser's slice of texts carries nothing from one event to the next.
func TestParseLinesMatchesDecodeLines(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ts := time.Date(2026, 12, 3, 2, 0, 0, 123456789, time.UTC)
	pick := []string{"a", "0", " ", `"`, `\`, "\x00", "\n", "\xff", "é", "🚀", "\u2028", ",", "]", `","`}
	var p linesParser
	fast := 0
	for i := range 3000 {
		n := 1 + rng.IntN(30)
		recs := make([]gaffer.Record, n)
		special := rng.IntN(2) == 0
		for k := range recs {
			var text []byte
			for range rng.IntN(20) {
				if special && rng.IntN(6) == 0 {
					text = append(text, pick[rng.IntN(len(pick))]...)
				} else {
					text = append(text, byte('a'+rng.IntN(26)))
				}
			}
			recs[k] = gaffer.Record{Seq: int64(i*100 + k + 1), TS: ts, Host: hostName, Stream: gaffer.Stdout, Data: text, NL: true}
		}
		recs[n-1].NL = rng.IntN(2) == 0
		alert, file := rng.IntN(3) == 0, rng.IntN(3) == 0
		for k := range recs {
			recs[k].Alert = alert
			if file {
				recs[k].File = "/var/log/x.log"
			}
		}
		var enc gaffer.JSONEncoder
		data, took := enc.AppendLines(nil, recs)
		if took != n {
			t.Fatalf("one run of %d records took %d", n, took)
		}
		if _, _, _, ok := parseLinesFast(nil, data); ok {
			fast++
		}
		got, err := parseLinesAll(&p, data)
		if want := linesWant(t, data); err != nil || len(got) != len(want) {
			t.Fatalf("parse(%q) = %d records, %v; want %d", data, len(got), err, len(want))
		} else {
			for k := range want {
				if !sameRecord(got[k], want[k]) {
					t.Fatalf("parse(%q) record %d = %+v, want %+v", data, k, got[k], want[k])
				}
			}
		}
	}
	if fast < 1000 || fast > 2000 {
		t.Errorf("%d of 3000 events on the one-pass path: both paths should be taken", fast)
	}
}

// FuzzParseLines: whatever an event's data holds, linesParser hands on
// what gaffer.DecodeLines decodes, or fails as it does, never a part.
func FuzzParseLines(f *testing.F) {
	for _, s := range []string{
		`{"seq":1,"ts":"2026-12-03T02:00:00Z","host":"h1","stream":"stdout","lines":["1","2"],"nl":true}`,
		`{"seq":7,"ts":"2026-12-03T02:00:00Z","host":"h1","stream":"stdout","file":"/f","lines":["a\"b",""],"nl":false,"alert":true}`,
		`{"seq":7,"ts":"x","host":"h1","stream":"stdout","lines":["a"],"nl":true}`,
		`{"seq":7,"ts":"2026-12-03T02:00:00Z","host":"h1","stream":"stdout","lines":[],"nl":true}`,
		`{"seq":0,"lines":["a"]}`, `{"seq":1,"lines":["a","b"`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p linesParser
		got, err := parseLinesAll(&p, data)
		recs, werr := gaffer.DecodeLines(nil, data)
		if (err == nil) != (werr == nil) {
			t.Fatalf("parse(%q): %v; DecodeLines: %v", data, err, werr)
		}
		if err != nil {
			if len(got) > 0 {
				t.Fatalf("parse(%q) failed after handing on %d records", data, len(got))
			}
			return
		}
		want := linesWant(t, data)
		if len(got) != len(recs) || len(got) != len(want) {
			t.Fatalf("parse(%q): %d records, want %d", data, len(got), len(want))
		}
		for k := range want {
			// The ts as sent or as decoded and written again: the same time.
			gt, _ := time.Parse(time.RFC3339Nano, string(got[k].TS))
			wt, _ := time.Parse(time.RFC3339Nano, string(want[k].TS))
			g, w := got[k], want[k]
			g.TS, w.TS = nil, nil
			if !sameRecord(g, w) || !gt.Equal(wt) {
				t.Fatalf("parse(%q) record %d = %+v, want %+v", data, k, got[k], want[k])
			}
		}
	})
}
