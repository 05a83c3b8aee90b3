package gaffer

import (
	"encoding/binary"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the record as the API shows it (the same JSON as
// MarshalJSON) to b. It is the hot path of every log stream, so it writes
// the bytes directly instead of going through encoding/json's reflection,
// validation and compaction.
func (r *Record) AppendJSON(b []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, r.Seq, 10)
	b = r.appendShared(b)
	return r.appendOwn(b)
}

// appendShared writes the fields after seq that the records of one chunk
// share: ts, host and stream.
func (r *Record) appendShared(b []byte) []byte {
	b = append(b, `,"ts":"`...)
	b = r.TS.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","host":`...)
	b = appendJSONText(b, r.Host)
	b = append(b, `,"stream":`...)
	return appendJSONText(b, string(r.Stream))
}

// appendOwn writes the rest: file, text, nl, alert.
func (r *Record) appendOwn(b []byte) []byte {
	if r.File != "" {
		b = append(b, `,"file":`...)
		b = appendJSONText(b, r.File)
	}
	b = append(b, `,"text":`...)
	b = appendJSONString(b, r.Data)
	if r.NL {
		b = append(b, `,"nl":true`...)
	} else {
		b = append(b, `,"nl":false`...)
	}
	if r.Alert {
		b = append(b, `,"alert":true`...)
	}
	return append(b, '}')
}

// JSONEncoder appends records as AppendJSON does, formatting the ts, host
// and stream once for a run of records that share them (the lines of one
// read chunk), which is most of the cost of a short line. The zero value
// is ready; one encoder serves one goroutine.
type JSONEncoder struct {
	valid  bool
	ts     time.Time
	host   string
	stream Stream
	shared []byte // appendShared of the last record

	seqOK  bool
	seq    int64
	digits []byte // seq in decimal
}

// Append appends r's JSON to b.
func (e *JSONEncoder) Append(b []byte, r *Record) []byte {
	if !e.valid || !r.TS.Equal(e.ts) || r.Host != e.host || r.Stream != e.stream {
		e.valid, e.ts, e.host, e.stream = true, r.TS, r.Host, r.Stream
		e.shared = r.appendShared(e.shared[:0])
	}
	b = append(b, `{"seq":`...)
	b = e.AppendSeq(b, r.Seq)
	b = append(b, e.shared...)
	return r.appendOwn(b)
}

// AppendSeq appends seq in decimal, as strconv.AppendInt does. A viewer's
// records follow one another, so it keeps the last seq's digits and counts
// them up in place; an SSE event writes its seq twice (id and JSON), and
// formatting it was 14 % of a server's CPU for a viewer of short lines.
func (e *JSONEncoder) AppendSeq(b []byte, seq int64) []byte {
	switch {
	case e.seqOK && seq == e.seq:
	case e.seqOK && seq > 1 && seq-1 == e.seq && incDecimal(e.digits):
		e.seq = seq
	default:
		e.seqOK, e.seq = true, seq
		e.digits = strconv.AppendInt(e.digits[:0], seq, 10)
	}
	return append(b, e.digits...)
}

// incDecimal adds one to the positive decimal number d in place. It
// reports false when the sum needs another digit (d was all nines); d is
// then to be written again.
func incDecimal(d []byte) bool {
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] != '9' {
			d[i]++
			return true
		}
		d[i] = '0'
	}
	return false
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string. Invalid UTF-8 becomes one
// U+FFFD per run of bad bytes, as strings.ToValidUTF8 does for Record.Text.
func appendJSONString(b []byte, s []byte) []byte {
	// Most text needs no escape: find that out first, and copy it whole.
	i := 0
	for i+8 <= len(s) && plain8(binary.LittleEndian.Uint64(s[i:])) {
		i += 8
	}
	for i < len(s) && plainByte[s[i]] {
		i++
	}
	b = append(b, '"')
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	invalid := false
	for i < len(s) {
		if i+8 <= len(s) && plain8(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
			invalid = false
			continue
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			invalid = false
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			invalid = false
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			if !invalid {
				b = append(b, `\ufffd`...)
			}
			invalid = true
			i++
			start = i
			continue
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but not valid JavaScript inside a script: escape.
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
		default:
			i += size
		}
		invalid = false
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainByte[c] says whether byte c goes into a JSON string as it is (see
// plain8).
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plain8 reports whether the 8 bytes in w all go into a JSON string as
// they are: ASCII, not a control character, not '"' nor '\\'. Each test
// is the exact "has a byte less than n" of word-at-a-time string search.
func plain8(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	ctl := (w - ones*0x20) & ^w         // a byte < 0x20
	q := w ^ (ones * '"')               // '"' became 0
	bs := w ^ (ones * '\\')             // '\\' became 0
	zero := (q-ones)&^q | (bs-ones)&^bs // a byte was 0
	return (w|ctl|zero)&highs == 0      // and no byte >= 0x80
}

// appendJSONText writes a short string (a host name, a stream) as JSON.
func appendJSONText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return appendJSONString(b, []byte(s))
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
