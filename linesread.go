package gaffer

import (
	"context"
	"strconv"
	"time"
)

// Lines is a read of a log in the shape of lines objects (lines.go): spans
// of records that differ only in their text, and the texts back to back.
// A viewer of lines events reads the log this way (LinesReader), without a
// Record per line: for short lines the Record, filled, copied and compared
// to the one before, cost more than encoding the line. It is a reader's
// memory, reused read after read (Reset).
type Lines struct {
	Spans []LinesSpan
	// Text holds every record's text, in seq order; Ends[i] is where the
	// i-th record's ends (it starts where the one before ends).
	Text []byte
	Ends []int

	// The source Begin set, for the records Add appends next.
	seq    int64
	ts     time.Time
	host   string
	stream Stream
	file   string
	joins  bool // Add may extend the last span
}

// LinesSpan is the records of one lines object: Seq, Seq+1, … Seq+N-1,
// their texts Lines.Ends[At:At+N]; every one but the last ended with a
// newline, and NL is the last one's.
type LinesSpan struct {
	Seq    int64
	N      int
	At     int // the index of its first record in Lines.Ends
	TS     time.Time
	Host   string
	Stream Stream
	File   string
	NL     bool
	Alert  bool
	text   int // bytes of text, against MaxLinesBytes
}

// linesOverhead is what a record costs in Lines besides its text (its
// entry in Ends, and a share of its span's), in Size: a read of Lines holds
// four to six times the short lines a read of Records does, so a viewer
// behind a fast job makes that many fewer reads.
const linesOverhead = 16

// LinesReader is an Archive or a LiveLog that reads into Lines.
type LinesReader interface {
	// ReadLines is Read into l, which it resets first: the same records,
	// up to limit of them, stopping once l.Size() reaches MaxReadBytes
	// (at least one record when there is one), and the same end and
	// errors.
	ReadLines(ctx context.Context, jobID int64, after int64, limit int, l *Lines) (end bool, err error)
}

// Reset empties l, keeping its memory, but for text grown far past a
// read's bound by a long record: a viewer holds one read's worth.
func (l *Lines) Reset() {
	if cap(l.Text) > 4*MaxReadBytes {
		l.Text = nil
	}
	l.Spans, l.Text, l.Ends, l.joins = l.Spans[:0], l.Text[:0], l.Ends[:0], false
}

// Len is the number of records l holds.
func (l *Lines) Len() int { return len(l.Ends) }

// Size is what l holds, against MaxReadBytes.
func (l *Lines) Size() int { return len(l.Text) + linesOverhead*len(l.Ends) }

// Full reports whether a read into l has reached MaxReadBytes.
func (l *Lines) Full() bool { return l.Size() >= MaxReadBytes }

// Last is the seq of the last record; 0 for none.
func (l *Lines) Last() int64 {
	if s := l.lastSpan(); s != nil {
		return s.Seq + int64(s.N) - 1
	}
	return 0
}

// TextOf is the text of the i-th record.
func (l *Lines) TextOf(i int) []byte {
	start := 0
	if i > 0 {
		start = l.Ends[i-1]
	}
	return l.Text[start:l.Ends[i]:l.Ends[i]]
}

// Begin says where the records Add appends next come from, the first of
// them with seq. Records of one source that follow the last span (the next
// seq, the same ts) extend it.
func (l *Lines) Begin(seq int64, ts time.Time, host string, stream Stream, file string) {
	s := l.lastSpan()
	l.joins = s != nil && s.Seq+int64(s.N) == seq && (s.TS == ts || s.TS.Equal(ts)) && s.Host == host && s.Stream == stream && s.File == file
	l.seq, l.ts, l.host, l.stream, l.file = seq, ts, host, stream, file
}

// Add appends the next record of the source Begin set: to the last span
// when it goes into the same lines object (LinesRun's rules), else in a
// new one.
func (l *Lines) Add(text []byte, nl, alert bool) {
	if s := l.lastSpan(); l.joins && s.NL && s.Alert == alert && s.text+len(text) <= MaxLinesBytes {
		s.N++
		s.text += len(text)
		s.NL = nl
	} else {
		l.Spans = append(l.Spans, LinesSpan{Seq: l.seq, N: 1, At: len(l.Ends), TS: l.ts, Host: l.host, Stream: l.stream, File: l.file,
			NL: nl, Alert: alert, text: len(text)})
	}
	l.joins = true
	l.seq++
	l.Text = append(l.Text, text...)
	l.Ends = append(l.Ends, len(l.Text))
}

// lastSpan is the last span, or nil.
func (l *Lines) lastSpan() *LinesSpan {
	if len(l.Spans) == 0 {
		return nil
	}
	return &l.Spans[len(l.Spans)-1]
}

// AddRecords appends recs, in seq order after what l holds: a reader that
// has only Records (a LiveLog that is no LinesReader) fills l this way.
func (l *Lines) AddRecords(recs []Record) {
	for i := range recs {
		r := &recs[i]
		if !l.joins || r.Seq != l.seq || !(r.TS == l.ts || r.TS.Equal(l.ts)) || r.Host != l.host || r.Stream != l.stream || r.File != l.file {
			l.Begin(r.Seq, r.TS, r.Host, r.Stream, r.File)
		}
		l.Add(r.Data, r.NL, r.Alert)
	}
}

// Records appends l's records to recs (their Data in l.Text).
func (l *Lines) Records(recs []Record) []Record {
	for _, s := range l.Spans {
		for i := range s.N {
			recs = append(recs, Record{Seq: s.Seq + int64(i), TS: s.TS, Host: s.Host, Stream: s.Stream, File: s.File,
				Data: l.TextOf(s.At + i), NL: s.NL || i < s.N-1, Alert: s.Alert})
		}
	}
	return recs
}

// AppendLinesSpan appends the lines object of l's span k to b.
func (e *JSONEncoder) AppendLinesSpan(b []byte, l *Lines, k int) []byte {
	s := &l.Spans[k]
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, s.Seq, 10)
	b = e.AppendLinesHead(b, &Record{TS: s.TS, Host: s.Host, Stream: s.Stream, File: s.File})
	start := 0
	if s.At > 0 {
		start = l.Ends[s.At-1]
	}
	for i, end := range l.Ends[s.At : s.At+s.N] {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, l.Text[start:end])
		start = end
	}
	return AppendLinesTail(b, s.NL, s.Alert)
}
