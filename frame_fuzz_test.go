package gaffer_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// FuzzFramer frames any bytes, written in any chunks, with any record
// limit: Rebuild gives back the exact input; no record is over the limit or
// holds a newline; a record without NL, other than the last, is a full
// limit's worth (a long line cut); and the caller's buffer is never kept.
func FuzzFramer(f *testing.F) {
	// The cases of TestFramer: input, chunk sizes, limit.
	f.Add([]byte("a\nb\n"), []byte{}, uint16(0))
	f.Add([]byte("hello\nworld\n"), []byte{3, 6, 3}, uint16(0))
	f.Add([]byte("10%\r50%\r100%\r\n"), []byte{}, uint16(0))
	f.Add([]byte("\n\n"), []byte{1}, uint16(0))
	f.Add([]byte("a\nlast"), []byte{}, uint16(0))
	f.Add([]byte("abcdefghij\n"), []byte{}, uint16(4))
	f.Add([]byte("abcdefgh\n"), []byte{}, uint16(4))
	f.Add([]byte("abcdef"), []byte{}, uint16(4))
	f.Add([]byte("abcdef"), []byte{1, 1, 1, 1, 1, 1}, uint16(4))
	f.Add([]byte("abc\ndefgh\nij"), []byte{2, 5, 1}, uint16(3))
	f.Add([]byte("\x00\xff\xfe\n"), []byte{}, uint16(0))
	f.Add(bytes.Repeat([]byte("x"), 3*gaffer.MaxRecord+7), []byte{0xff, 0xff, 0xff}, uint16(0))

	f.Fuzz(func(t *testing.T, input, chunks []byte, limit uint16) {
		var s sink
		max := int(limit)
		fr := gaffer.NewFramer("h", gaffer.Stderr, max, time.Hour, s.emit)
		if max <= 0 {
			max = gaffer.MaxRecord
		}
		// Write from a copy that is scribbled over after each write: a
		// record that aliased it would show the scribble.
		buf := append([]byte(nil), input...)
		rest := buf
		for i := 0; len(rest) > 0; i++ {
			k := len(rest)
			if i < len(chunks) {
				// A chunk size of 0 writes nothing (Write of an empty slice).
				k = min(k, int(chunks[i])*int(chunks[i]))
			}
			if n, err := fr.Write(rest[:k]); n != k || err != nil {
				t.Fatalf("Write = %d, %v; want %d, nil", n, err, k)
			}
			for j := range rest[:k] {
				rest[j] = '#'
			}
			rest = rest[k:]
		}
		fr.Close()
		fr.Write([]byte("after close\n"))

		recs := s.all()
		var out bytes.Buffer
		gaffer.Rebuild(&out, recs)
		if !bytes.Equal(out.Bytes(), input) {
			t.Fatalf("rebuilt %q\nfrom   %q", out.Bytes(), input)
		}
		for i, r := range recs {
			switch {
			case len(r.Data) > max:
				t.Fatalf("record %d holds %d bytes, over the limit %d", i, len(r.Data), max)
			case bytes.IndexByte(r.Data, '\n') >= 0:
				t.Fatalf("record %d holds a newline: %q", i, r.Data)
			case !r.NL && i < len(recs)-1 && len(r.Data) != max:
				t.Fatalf("record %d: %d bytes without NL before the last record (limit %d)", i, len(r.Data), max)
			case r.Host != "h" || r.Stream != gaffer.Stderr || r.TS.IsZero():
				t.Fatalf("record %d: host %q stream %q ts %v", i, r.Host, r.Stream, r.TS)
			}
		}
	})
}
