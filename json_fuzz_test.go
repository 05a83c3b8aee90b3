package gaffer_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gaffer-dev/gaffer"
)

// FuzzRecordJSON checks AppendJSON on any bytes: the output is valid JSON
// and valid UTF-8, holds no raw control character and no raw U+2028/U+2029
// (a JavaScript line end), and decodes to the record it came from, its text
// being ToValidUTF8 of the data, exactly as encoding/json would write it.
// ("<", ">" and "&" need no escape: the streams are read as JSON, never put
// into HTML as they are.)
func FuzzRecordJSON(f *testing.F) {
	for _, s := range []string{
		"", "a", "\x00", "\x1f", "\"", "\\", "\n", "\r", "\t", "\xff", "\xfe\xfd", "é", "日本",
		"\u2028", "\u2029", "<img>", "&", "\x7f", "\xe2\x82", "a\xe2\x82b", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\xef\xbf\xbd\xff", "10%\r50%\r", "</script><script>alert(1)</script>",
	} {
		f.Add(int64(1), int64(1_700_000_000_123_456_789), "web-1", "stdout", []byte(s), true)
	}
	// Longer than a word, specials at each place in and across words.
	for _, s := range []string{"0123456789abcdef", "0123456\"89abcdef", "01234567\x1f9abcdef", "\\1234567012345é7x",
		"abcdefgh\xffjklmnop\u2028", "abcdefghijklmno\n", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x80"} {
		f.Add(int64(1), int64(1_700_000_000_123_456_789), "web-1", "stdout", []byte(s), true)
	}
	f.Add(int64(-1), int64(0), "", "", []byte(nil), false)
	f.Add(int64(1<<62), int64(-1), "h\xff\"", "custom\n", []byte("x"), false)

	f.Fuzz(func(t *testing.T, seq, ns int64, host, stream string, data []byte, nl bool) {
		rec := gaffer.Record{Seq: seq, TS: time.Unix(0, ns).In(time.FixedZone("x", 3600)),
			Host: host, Stream: gaffer.Stream(stream), Data: data, NL: nl}
		got := rec.AppendJSON([]byte("prefix"))
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatalf("AppendJSON overwrote what it appends to: %q", got)
		}
		got = got[len("prefix"):]
		if !json.Valid(got) {
			t.Fatalf("invalid JSON %q", got)
		} else if !utf8.Valid(got) {
			t.Fatalf("invalid UTF-8 in %q", got)
		} else if i := bytes.IndexFunc(got, func(r rune) bool { return r < 0x20 || r == '\u2028' || r == '\u2029' }); i >= 0 {
			t.Fatalf("raw %q at %d in %q", got[i], i, got)
		}
		if m, err := rec.MarshalJSON(); err != nil || !bytes.Equal(m, got) {
			t.Fatalf("MarshalJSON = %q, %v; AppendJSON %q", m, err, got)
		}

		var back gaffer.Record
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("decoding %q: %v", got, err)
		}
		valid := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
		if back.Seq != rec.Seq || !back.TS.Equal(rec.TS) || back.Host != valid(host) ||
			string(back.Stream) != valid(stream) || string(back.Data) != rec.Text() || back.NL != nl {
			t.Fatalf("%q decodes to %+v, from %+v", got, back, rec)
		}

		// Field for field what encoding/json writes (compared decoded: the
		// two escape differently).
		want, err := json.Marshal(map[string]any{"seq": rec.Seq, "ts": rec.TS.UTC(), "host": valid(host),
			"stream": valid(stream), "text": rec.Text(), "nl": nl})
		if err != nil {
			t.Fatal(err)
		}
		if a, b := canonical(t, got), canonical(t, want); a != b {
			t.Fatalf("got %s\nwant %s", a, b)
		}
	})
}

// canonical is b decoded and encoded again, so that two encodings of the
// same value compare equal.
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // seq is an int64: a float64 would round it
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
