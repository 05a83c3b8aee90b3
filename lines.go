package gaffer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// A lines object carries a run of records that differ only in their text,
// in one JSON object: the viewer's SSE `lines` event (?batch=1). A line
// event costs about 140 bytes for an 8-byte line (id, event name, seq, ts,
// host, stream, nl), which a viewer of a fast job must read and parse; in
// a lines object that line costs its text, quoted, and a comma.
//
//	{"seq":F,"ts":"…","host":"…","stream":"…"[,"file":"…"],"lines":["…","…"],"nl":B[,"alert":true]}
//
// are the records F, F+1, … (one per element of lines), each with that ts,
// host, stream, file and alert; every one but the last ended with a
// newline (nl true), and nl is the last one's.

// MaxLinesBytes bounds the text of one lines object (it holds at least one
// record, which may be longer): an event stays a line a client can buffer.
const MaxLinesBytes = MaxReadBytes

// LinesRun returns how many records at the start of recs go into one lines
// object: consecutive seqs, the same ts (instant), host, stream, file and
// alert, every one but the last ending with a newline, at most
// MaxLinesBytes of text in all (or the first alone, if longer). 0 for no
// records.
func LinesRun(recs []Record) int {
	if len(recs) == 0 {
		return 0
	}
	n, size := 1, len(recs[0].Data)
	for n < len(recs) && linesFollow(&recs[0], &recs[n-1], &recs[n], &size) {
		n++
	}
	return n
}

// linesFollow reports whether r goes into the lines object of r0 after p,
// counting its text into size.
func linesFollow(r0, p, r *Record, size *int) bool {
	*size += len(r.Data)
	return p.NL && r.Seq == p.Seq+1 && *size <= MaxLinesBytes && r.Alert == r0.Alert &&
		(r.TS == r0.TS || r.TS.Equal(r0.TS)) && r.SameSource(r0)
}

// AppendLines appends the lines object of the first LinesRun(recs) records
// to b and returns how many it took.
func (e *JSONEncoder) AppendLines(b []byte, recs []Record) ([]byte, int) {
	if len(recs) == 0 {
		return b, 0
	}
	r0 := &recs[0]
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, r0.Seq, 10)
	b = e.AppendLinesHead(b, r0)
	b = appendJSONString(b, r0.Data)
	// One pass: the run is found as it is written.
	n, size := 1, len(r0.Data)
	for n < len(recs) && linesFollow(r0, &recs[n-1], &recs[n], &size) {
		b = append(b, ',')
		b = appendJSONString(b, recs[n].Data)
		n++
	}
	return AppendLinesTail(b, recs[n-1].NL, r0.Alert), n
}

// AppendLinesHead appends what a lines object of a run that starts with r0
// holds between its seq and its first text:
// ,"ts":…,"host":…,"stream":…[,"file":…],"lines":[
func (e *JSONEncoder) AppendLinesHead(b []byte, r0 *Record) []byte {
	if !e.valid || !r0.TS.Equal(e.ts) || r0.Host != e.host || r0.Stream != e.stream {
		e.valid, e.ts, e.host, e.stream = true, r0.TS, r0.Host, r0.Stream
		e.shared = r0.appendShared(e.shared[:0])
	}
	b = append(b, e.shared...)
	if r0.File != "" {
		b = append(b, `,"file":`...)
		b = appendJSONText(b, r0.File)
	}
	return append(b, `,"lines":[`...)
}

// AppendJSONString appends s as a JSON string, as a record's text is
// written (invalid UTF-8 as U+FFFD; no raw control byte, U+2028 or U+2029).
func AppendJSONString(b, s []byte) []byte { return appendJSONString(b, s) }

// AppendLinesTail appends what follows a lines object's last text: nl is
// the last record's, alert the run's.
func AppendLinesTail(b []byte, nl, alert bool) []byte {
	if nl {
		b = append(b, `],"nl":true`...)
	} else {
		b = append(b, `],"nl":false`...)
	}
	if alert {
		b = append(b, `,"alert":true`...)
	}
	return append(b, '}')
}

// linesJSON is a lines object for encoding/json.
type linesJSON struct {
	Seq    *int64    `json:"seq"`
	TS     time.Time `json:"ts"`
	Host   string    `json:"host"`
	Stream Stream    `json:"stream"`
	File   string    `json:"file"`
	Lines  []string  `json:"lines"`
	NL     bool      `json:"nl"`
	Alert  bool      `json:"alert"`
}

// DecodeLines returns the records of a lines object, appended to recs.
// Their Data is the text as the object holds it (valid UTF-8).
func DecodeLines(recs []Record, data []byte) ([]Record, error) {
	var v linesJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return recs, fmt.Errorf("lines event: %w", err)
	}
	switch {
	case v.Seq == nil:
		return recs, errors.New("lines event: no seq")
	case *v.Seq < 1:
		return recs, fmt.Errorf("lines event: seq %d is not a record's", *v.Seq)
	case len(v.Lines) == 0:
		return recs, errors.New("lines event: no lines")
	case *v.Seq > math.MaxInt64-int64(len(v.Lines)):
		return recs, fmt.Errorf("lines event: seq %d is too large", *v.Seq)
	}
	for i, text := range v.Lines {
		recs = append(recs, Record{Seq: *v.Seq + int64(i), TS: v.TS, Host: v.Host, Stream: v.Stream, File: v.File,
			Data: []byte(text), NL: v.NL || i < len(v.Lines)-1, Alert: v.Alert})
	}
	return recs, nil
}
