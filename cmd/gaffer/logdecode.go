package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gaffer-dev/gaffer"
)

// The log decoder turns the server's NDJSON (and SSE line data) into
// records. Printing a 5-million-line log is bound by this loop, so the
// record shape gaffer.Record.AppendJSON writes is parsed by hand, without
// allocating; any other shape (another field order, extra fields, a future
// server) goes through encoding/json instead.

// logRecord is one record as the CLI prints it. Its slices point into the
// decoder's buffers and are valid only until the next record is decoded.
type logRecord struct {
	Seq    int64
	TS     []byte // as the server wrote it (RFC 3339)
	Host   []byte
	Stream []byte
	File   []byte // a follow job's file; empty for a command's output
	Text   []byte // the text, JSON escapes undone
	NL     bool
	Alert  bool // matched one of the job's alerts
}

// searchTrailer is the last line of a search page.
type searchTrailer = gaffer.SearchResult

// logHandler receives what a log stream holds. line is the JSON line as
// the server sent it (for -o json); record and trailer may be nil.
type logHandler struct {
	record  func(rec *logRecord, line []byte) error
	gap     func(g gapNotice, line []byte) error
	trailer func(t searchTrailer) error
}

// recordDecoder holds the buffers a decoded record points into.
type recordDecoder struct {
	rec                                logRecord
	ts, host, stream, file, text, long []byte
	lines                              []gaffer.Record // a lines event's, decoded by encoding/json
	lrecs                              []logRecord     // a lines event's
	json                               []byte          // a record of it, as JSON
	run                                gaffer.Record   // what its records share (recordJSON)
	runOK                              bool
}

var (
	errNotRecord = errors.New("not a record")
	prefixSeq    = []byte(`{"seq":`)
	prefixGap    = []byte(`{"gap":`)
	prefixDone   = []byte(`{"done":`)
)

// readLogLines reads NDJSON from r and hands each line to h.
func readLogLines(r io.Reader, h logHandler) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var d recordDecoder
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer (a 64 KiB record full of
			// escapes): gather it.
			d.long = append(d.long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				d.long = append(d.long, line...)
			}
			line = d.long
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
		} else if err == nil {
			err = io.ErrUnexpectedEOF
		}
		if len(line) > 0 {
			if herr := d.dispatch(line, h); herr != nil {
				return herr
			}
		}
		if err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read log: %w", err)
		}
	}
}

// dispatch decodes one line and calls the handler that fits it.
func (d *recordDecoder) dispatch(line []byte, h logHandler) error {
	if bytes.HasPrefix(line, prefixSeq) && d.parseFast(line) {
		if h.record == nil {
			return nil
		}
		return h.record(&d.rec, line)
	}
	var v wireLine
	if err := json.Unmarshal(line, &v); err != nil {
		return fmt.Errorf("read log: %w", err)
	}
	switch {
	case v.Gap != nil:
		if h.gap == nil {
			return nil
		}
		return h.gap(gapNotice{From: v.Gap.From, To: v.Gap.To, Message: v.Message}, line)
	case v.Done != nil:
		if h.trailer == nil {
			return nil
		}
		return h.trailer(searchTrailer{Done: *v.Done, ScannedTo: v.ScannedTo, Matches: v.Matches})
	case v.Seq == nil:
		return fmt.Errorf("read log: a line that is neither a record nor a notice: %.80q", line)
	}
	d.rec = logRecord{Seq: *v.Seq, TS: append(d.ts[:0], v.TS...), Host: append(d.host[:0], v.Host...),
		Stream: append(d.stream[:0], v.Stream...), File: append(d.file[:0], v.File...),
		Text: append(d.text[:0], v.Text...), NL: v.NL, Alert: v.Alert}
	if h.record == nil {
		return nil
	}
	return h.record(&d.rec, line)
}

// decodeRecord decodes one record's JSON (an SSE line event's data).
func (d *recordDecoder) decodeRecord(data []byte) (*logRecord, error) {
	var got *logRecord
	err := d.dispatch(data, logHandler{record: func(r *logRecord, _ []byte) error { got = r; return nil }})
	if err == nil && got == nil {
		err = errNotRecord
	}
	return got, err
}

// decodeLines decodes an SSE lines event's data (a run of records in one
// object, see gaffer.JSONEncoder.AppendLines). The shape the server writes
// is parsed by hand, its texts pointing into data unless they had escapes;
// any other goes through gaffer.DecodeLines. The records are valid until
// the next call.
func (d *recordDecoder) decodeLines(data []byte) ([]logRecord, error) {
	d.runOK = false
	if recs, ok := d.parseLinesFast(data); ok {
		return recs, nil
	}
	recs, err := gaffer.DecodeLines(d.lines[:0], data)
	d.lines = recs
	if err != nil {
		return nil, err
	}
	out := d.lrecs[:0]
	for i := range recs {
		r := &recs[i]
		out = append(out, logRecord{Seq: r.Seq, TS: r.TS.UTC().AppendFormat(nil, time.RFC3339Nano), Host: []byte(r.Host),
			Stream: []byte(r.Stream), File: []byte(r.File), Text: r.Data, NL: r.NL, Alert: r.Alert})
	}
	d.lrecs = out
	return out, nil
}

// parseLinesFast decodes a lines object written exactly as AppendLines
// writes it: {"seq":N,"ts":"…","host":"…","stream":"…"[,"file":"…"],
// "lines":["…",…],"nl":BOOL[,"alert":true]}. As parseFast, it accepts
// nothing encoding/json would read differently (FuzzDecodeLines); false
// means "use encoding/json".
func (d *recordDecoder) parseLinesFast(b []byte) ([]logRecord, bool) {
	d.runOK = false // a new event: recordJSON takes what its records share again
	i, ok := expect(b, 0, `{"seq":`)
	if !ok {
		return nil, false
	}
	start := i
	var seq int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		seq = seq*10 + int64(b[i]-'0')
		i++
	}
	if n := i - start; n == 0 || n > 18 || (n > 1 && b[start] == '0') || seq < 1 {
		return nil, false
	}
	var r logRecord
	if i, ok = expect(b, i, `,"ts":`); !ok {
		return nil, false
	}
	if r.TS, i, ok = parseString(b, i, nil); !ok {
		return nil, false
	}
	if _, err := time.Parse(time.RFC3339Nano, string(r.TS)); err != nil {
		return nil, false // as DecodeLines would refuse it
	}
	if i, ok = expect(b, i, `,"host":`); !ok {
		return nil, false
	}
	if r.Host, i, ok = parseString(b, i, nil); !ok {
		return nil, false
	}
	if i, ok = expect(b, i, `,"stream":`); !ok {
		return nil, false
	}
	if r.Stream, i, ok = parseString(b, i, nil); !ok {
		return nil, false
	}
	if j, ok := expect(b, i, `,"file":`); ok {
		if r.File, i, ok = parseString(b, j, nil); !ok {
			return nil, false
		}
	}
	if i, ok = expect(b, i, `,"lines":[`); !ok {
		return nil, false
	}
	out := d.lrecs[:0]
	for {
		var text []byte
		if text, i, ok = parseString(b, i, nil); !ok {
			return nil, false
		}
		r.Seq, r.Text, r.NL = seq+int64(len(out)), text, true
		out = append(out, r)
		if j, more := expect(b, i, `,`); more {
			i = j
			continue
		}
		break
	}
	d.lrecs = out
	last := &out[len(out)-1]
	switch string(b[i:]) {
	case `],"nl":true}`:
	case `],"nl":false}`:
		last.NL = false
	case `],"nl":true,"alert":true}`, `],"nl":false,"alert":true}`:
		last.NL = string(b[i:]) == `],"nl":true,"alert":true}`
		for k := range out {
			out[k].Alert = true
		}
	default:
		return nil, false
	}
	return out, true
}

// recordJSON returns r, a record of the last lines event decoded, as the
// server writes a record's JSON (gaffer.Record.AppendJSON): what -o json
// prints of it. The event's records share their ts, host, stream, file
// and alert, taken once per event. Valid until the next call.
func (d *recordDecoder) recordJSON(r *logRecord) []byte {
	if !d.runOK {
		ts, _ := time.Parse(time.RFC3339Nano, string(r.TS))
		d.run = gaffer.Record{TS: ts, Host: string(r.Host), Stream: gaffer.Stream(r.Stream), File: string(r.File), Alert: r.Alert}
		d.runOK = true
	}
	d.run.Seq, d.run.Data, d.run.NL = r.Seq, r.Text, r.NL
	d.json = d.run.AppendJSON(d.json[:0])
	return d.json
}

// wireLine is every line a log stream may hold, for encoding/json.
type wireLine struct {
	Seq    *int64 `json:"seq"`
	TS     string `json:"ts"`
	Host   string `json:"host"`
	Stream string `json:"stream"`
	File   string `json:"file"`
	Text   string `json:"text"`
	NL     bool   `json:"nl"`
	Alert  bool   `json:"alert"`
	Gap    *struct {
		From int64 `json:"from"`
		To   int64 `json:"to"`
	} `json:"gap"`
	Message   string `json:"message"`
	Done      *bool  `json:"done"`
	ScannedTo int64  `json:"scanned_to"`
	Matches   int    `json:"matches"`
}

// parseFast decodes a record written exactly as AppendJSON writes it:
// {"seq":N,"ts":"…","host":"…","stream":"…"[,"file":"…"],"text":"…","nl":BOOL[,"alert":true]}. It
// accepts nothing that encoding/json would read differently (the fuzz test
// holds it to that); false means "use encoding/json".
func (d *recordDecoder) parseFast(b []byte) bool {
	i := len(prefixSeq)
	start := i
	var seq int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		seq = seq*10 + int64(b[i]-'0')
		i++
	}
	if n := i - start; n == 0 || n > 18 || (n > 1 && b[start] == '0') {
		return false
	}
	var ok bool
	if i, ok = expect(b, i, `,"ts":`); !ok {
		return false
	}
	if d.rec.TS, i, ok = parseString(b, i, d.ts[:0]); !ok {
		return false
	}
	if i, ok = expect(b, i, `,"host":`); !ok {
		return false
	}
	if d.rec.Host, i, ok = parseString(b, i, d.host[:0]); !ok {
		return false
	}
	if i, ok = expect(b, i, `,"stream":`); !ok {
		return false
	}
	if d.rec.Stream, i, ok = parseString(b, i, d.stream[:0]); !ok {
		return false
	}
	d.rec.File = nil
	if j, ok := expect(b, i, `,"file":`); ok {
		if d.rec.File, i, ok = parseString(b, j, d.file[:0]); !ok {
			return false
		}
	}
	if i, ok = expect(b, i, `,"text":`); !ok {
		return false
	}
	if d.rec.Text, i, ok = parseString(b, i, d.text[:0]); !ok {
		return false
	}
	switch rest := b[i:]; string(rest) {
	case `,"nl":true}`:
		d.rec.NL, d.rec.Alert = true, false
	case `,"nl":false}`:
		d.rec.NL, d.rec.Alert = false, false
	case `,"nl":true,"alert":true}`:
		d.rec.NL, d.rec.Alert = true, true
	case `,"nl":false,"alert":true}`:
		d.rec.NL, d.rec.Alert = false, true
	default:
		return false
	}
	d.rec.Seq = seq
	// Keep grown buffers for the next record.
	if cap(d.rec.Text) > cap(d.text) && !aliases(d.rec.Text, b) {
		d.text = d.rec.Text[:0]
	}
	return true
}

func expect(b []byte, i int, s string) (int, bool) {
	if len(b)-i < len(s) || string(b[i:i+len(s)]) != s {
		return i, false
	}
	return i + len(s), true
}

// aliases reports whether s is a slice of b.
func aliases(s, b []byte) bool {
	return cap(s) > 0 && cap(b) > 0 && &s[:cap(s)][cap(s)-1] == &b[:cap(b)][cap(b)-1]
}

// parseString reads the JSON string at b[i]. Without escapes the result is
// a slice of b; with them it is unescaped into dst. ok is false on anything
// encoding/json would reject or change (control bytes, invalid UTF-8, bad
// escapes).
func parseString(b []byte, i int, dst []byte) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	i++
	start := i
	high := false
	for ; i < len(b); i++ {
		c := b[i]
		if c == '"' {
			if high && !utf8.Valid(b[start:i]) {
				return nil, i, false
			}
			return b[start:i], i + 1, true
		}
		if c == '\\' {
			return unescape(b, start, i, dst)
		}
		if c < 0x20 {
			return nil, i, false
		}
		if c >= utf8.RuneSelf {
			high = true
		}
	}
	return nil, i, false
}

// unescape finishes a string that has escapes: b[start:i] is plain.
func unescape(b []byte, start, i int, dst []byte) ([]byte, int, bool) {
	if !utf8.Valid(b[start:i]) {
		return nil, i, false
	}
	dst = append(dst, b[start:i]...)
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return dst, i + 1, true
		case c < 0x20:
			return nil, i, false
		case c == '\\':
			if i+1 >= len(b) {
				return nil, i, false
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					return nil, i, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// As encoding/json: a valid pair is one rune, anything
					// else is U+FFFD for the first half alone.
					if r2, ok := hex4(b, i+2); ok && i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default:
				return nil, i, false
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, i, false
			}
			dst = append(dst, b[i:i+size]...)
			i += size
		}
	}
	return nil, i, false
}

// hex4 reads the 4 hex digits of a \u escape at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// decodeNDJSON reads an NDJSON log into gaffer.Records (for tests and
// callers that keep the records): records go to fn, notices of lost
// records to onGap (if not nil).
func decodeNDJSON(r io.Reader, fn func(gaffer.Record), onGap func(string)) error {
	return readLogLines(r, logHandler{
		record: func(rec *logRecord, _ []byte) error {
			fn(rec.record())
			return nil
		},
		gap: func(g gapNotice, _ []byte) error {
			if onGap != nil {
				onGap(g.Message)
			}
			return nil
		},
	})
}

// record copies r into a gaffer.Record.
func (r *logRecord) record() gaffer.Record {
	rec := gaffer.Record{Seq: r.Seq, Host: string(r.Host), Stream: gaffer.Stream(r.Stream), File: string(r.File),
		Data: bytes.Clone(r.Text), NL: r.NL, Alert: r.Alert}
	if rec.Data == nil {
		rec.Data = []byte{}
	}
	rec.TS.UnmarshalText(r.TS)
	return rec
}
