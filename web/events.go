package web

import (
	"io"
	"strconv"
	"sync"

	"github.com/gaffer-dev/gaffer"
)

// The bytes of a log stream's records: line events, lines events (batch=1)
// and NDJSON lines, encoded per viewer (writeRecords, pendingEvents) or
// once for all of them (encodecache.go).

// appendLineEvent appends r as a line event, as writeEvent writes it, and
// returns where its JSON starts.
func appendLineEvent(b []byte, enc *gaffer.JSONEncoder, r *gaffer.Record) ([]byte, int) {
	b = append(b, "id: "...)
	b = enc.AppendSeq(b, r.Seq)
	b = append(b, "\nevent: line\ndata: "...)
	js := len(b)
	b = enc.Append(b, r)
	return append(b, "\n\n"...), js
}

// appendLinesEvents appends recs as lines events (gaffer.JSONEncoder.AppendLines),
// each with its last record's seq as its id (a reconnect goes on after it).
// The id comes after the data, where the run's end is known: an event's
// fields may come in any order.
func appendLinesEvents(b []byte, enc *gaffer.JSONEncoder, recs []gaffer.Record) []byte {
	for len(recs) > 0 {
		var n int
		b, n = enc.AppendLines(append(b, linesEventHead...), recs)
		b = appendLinesEventEnd(b, recs[n-1].Seq)
		recs = recs[n:]
	}
	return b
}

// appendLinesSpans appends l's spans as lines events, as appendLinesEvents
// does records.
func appendLinesSpans(b []byte, enc *gaffer.JSONEncoder, l *gaffer.Lines) []byte {
	for k := range l.Spans {
		b = enc.AppendLinesSpan(append(b, linesEventHead...), l, k)
		b = appendLinesEventEnd(b, l.Spans[k].Seq+int64(l.Spans[k].N)-1)
	}
	return b
}

// linesEventHead is what a lines event has before its lines object; the
// writers of lines events (above, and encSpan.appendLines) share it and
// appendLinesEventEnd.
const linesEventHead = "event: lines\ndata: "

// appendLinesEventEnd ends a lines event after its lines object: its id,
// the seq of its last record.
func appendLinesEventEnd(b []byte, last int64) []byte {
	b = append(b, "\nid: "...)
	b = strconv.AppendInt(b, last, 10)
	return append(b, "\n\n"...)
}

// eventBufs hold a read's encoded events for a viewer that encodes them
// itself (alone on its job, or filtered): they go to the connection in one
// write, not one per streamBuffer, and the buffer goes back to the pool, so
// thousands of viewers do not each keep one.
var eventBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledEvents bounds the buffers kept in eventBufs.
const maxPooledEvents = 1 << 20

// recordsForm is how writeRecords writes records.
type recordsForm int

const (
	lineEvents  recordsForm = iota // SSE, a line event per record
	linesEvents                    // SSE, a lines event per run (batch=1)
	ndjsonLines                    // NDJSON, a line per record
)

// writeRecords writes recs to w in form, in one write.
func writeRecords(w io.Writer, enc *gaffer.JSONEncoder, recs []gaffer.Record, form recordsForm) {
	if len(recs) == 0 {
		return
	}
	var p pendingEvents
	p.add(enc, recs, form)
	p.writeTo(w)
}

// pendingEvents holds encoded records not yet written: a viewer behind the
// log reads on at once, and its reads go out together (one write per
// pendingBytes, not per read: for lines events a read of short lines is a
// few KiB). The buffer comes from eventBufs and goes back when written.
type pendingEvents struct {
	bp *[]byte
}

// pendingBytes is how much a viewer behind gathers before it writes.
const pendingBytes = 32 << 10

// add encodes recs in form after what is pending.
func (p *pendingEvents) add(enc *gaffer.JSONEncoder, recs []gaffer.Record, form recordsForm) {
	if len(recs) == 0 {
		return
	}
	p.append(func(b []byte) []byte {
		switch form {
		case lineEvents:
			for i := range recs {
				b, _ = appendLineEvent(b, enc, &recs[i])
			}
		case linesEvents:
			b = appendLinesEvents(b, enc, recs)
		case ndjsonLines:
			for i := range recs {
				b = append(enc.Append(b, &recs[i]), '\n')
			}
		}
		return b
	})
}

// append has fn append to what is pending.
func (p *pendingEvents) append(fn func([]byte) []byte) {
	if p.bp == nil {
		p.bp = eventBufs.Get().(*[]byte)
		*p.bp = (*p.bp)[:0]
	}
	*p.bp = fn(*p.bp)
}

// len is how many bytes are pending.
func (p *pendingEvents) len() int {
	if p.bp == nil {
		return 0
	}
	return len(*p.bp)
}

// writeTo writes what is pending to w in one write, and gives the buffer
// back.
func (p *pendingEvents) writeTo(w io.Writer) {
	if p.bp == nil {
		return
	}
	if b := *p.bp; len(b) > 0 {
		w.Write(b)
	}
	if cap(*p.bp) <= maxPooledEvents {
		eventBufs.Put(p.bp)
	}
	p.bp = nil
}
