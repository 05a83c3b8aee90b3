package gaffer

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"
)

// Reading a large log anywhere: every query below is answered from the
// archive (written before the live buffer, shared by every instance) and
// costs the same near the end of a 10-million-line log as near its start.

// LogFilter selects the records of one host, one stream and/or one
// followed file; the zero filter selects every record.
type LogFilter struct {
	Host   string
	Stream Stream
	File   string
}

// Match reports whether rec passes the filter.
func (f LogFilter) Match(rec *Record) bool {
	return (f.Host == "" || rec.Host == f.Host) && (f.Stream == "" || rec.Stream == f.Stream) &&
		(f.File == "" || rec.File == f.File)
}

// Zero reports whether the filter selects every record.
func (f LogFilter) Zero() bool { return f.Host == "" && f.Stream == "" && f.File == "" }

// LogRange asks for a range of a job's log, by seq.
type LogRange struct {
	Filter LogFilter
	// After starts a forward read: the first Limit matching records with
	// seq > After, oldest first.
	After int64
	// Before, when above 0, makes it a backward read instead: the last
	// Limit matching records with seq < Before, returned oldest first.
	// Tail reads use Before = TailSeq.
	Before int64
	// Limit bounds the records returned; like LiveLog.Read, a read also
	// stops once their Size adds up to MaxReadBytes (a backward read keeps
	// the newest that fit). <= 0 means the implementation's default.
	Limit int
}

// TailSeq as LogRange.Before reads the end of the log.
const TailSeq = int64(1<<63 - 1)

// LogSummary describes a job's log without reading it.
type LogSummary struct {
	// FirstSeq is the oldest record kept once a retained log dropped its
	// oldest part (Job.Retain); 0 (absent) when nothing was dropped.
	FirstSeq int64 `json:"first_seq,omitempty"`
	LastSeq  int64 `json:"last_seq"`
	// Complete: the job ended and its log is whole in the archive.
	Complete bool            `json:"complete"`
	FirstTS  *time.Time      `json:"first_ts"`
	LastTS   *time.Time      `json:"last_ts"`
	Streams  []StreamSummary `json:"streams"`
}

// StreamSummary counts one host's stream, or a followed file's lines in
// it (File set): records and bytes of data (newlines not counted).
type StreamSummary struct {
	Host    string `json:"host"`
	Stream  Stream `json:"stream"`
	File    string `json:"file,omitempty"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
}

// SearchQuery asks for the records of a job's log whose text matches.
type SearchQuery struct {
	Pattern string
	Regex   bool // RE2 syntax; otherwise a plain substring
	Case    bool // case-sensitive; the default is not
	Filter  LogFilter
	After   int64 // search records with seq > After
	Limit   int   // stop after this many matches; <= 0: DefaultSearchLimit
}

// Search limits.
const (
	DefaultSearchLimit = 1000
	MaxSearchLimit     = 100000
	MaxPattern         = 4 << 10
)

// Compile checks the query and returns the regular expression that decides
// a match (also for a plain substring, quoted), so every implementation
// agrees on what matches. EINVALID with a message for a person on a bad
// pattern.
func (q *SearchQuery) Compile() (*regexp.Regexp, error) {
	switch {
	case q.Pattern == "":
		return nil, Errorf(EINVALID, "q is empty: say what to search for")
	case len(q.Pattern) > MaxPattern:
		return nil, Errorf(EINVALID, "q is %d bytes long; the limit is %d", len(q.Pattern), MaxPattern)
	}
	expr := q.Pattern
	if !q.Regex {
		expr = regexp.QuoteMeta(expr)
	} else if _, err := syntax.Parse(expr, syntax.Perl); err != nil {
		// Checked alone, so that the message quotes the pattern as the
		// user wrote it (without the flags added below). regexp's words
		// ("missing closing )") hold nothing of the server's.
		msg := err.Error()
		var serr *syntax.Error
		if errors.As(err, &serr) {
			msg = fmt.Sprintf("%s: `%s`", serr.Code, serr.Expr)
		}
		return nil, Errorf(EINVALID, "q is not a valid regular expression (RE2 syntax): %s", msg)
	}
	if !q.Case {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, Errorf(EINVALID, "q is not a valid regular expression (RE2 syntax): %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

// SearchResult is the trailer of a search: every record with seq up to
// ScannedTo was looked at; Done is false when the search stopped early
// (the limit, or its time bound) and goes on with After = ScannedTo.
type SearchResult struct {
	Done      bool  `json:"done"`
	ScannedTo int64 `json:"scanned_to"`
	Matches   int   `json:"matches"`
}

// LogReader answers range queries on archived logs. The archive
// implements it; ENOTFOUND when it has nothing for the job.
type LogReader interface {
	// ReadRange reads a range of the log (see LogRange). For a forward
	// read, end reports that the log is complete and nothing matching
	// follows the records returned; for a backward read, that the log is
	// complete and nothing matching is at or after Before (always, for
	// a complete log's tail).
	ReadRange(ctx context.Context, jobID int64, r LogRange) (recs []Record, end bool, err error)
	// SeqAt returns the seq of the first record stamped at or after t
	// (records are nearly in time order: the first whose TS >= t, found by
	// bisection then a short scan), or the last seq + 1 if there is none.
	// Exact when TS never decrease; a record stamped slightly out of order
	// near the answer may fall on either side of it (see archive.SeqAt).
	SeqAt(ctx context.Context, jobID int64, t time.Time) (int64, error)
	// Summary describes the log as it is now.
	Summary(ctx context.Context, jobID int64) (*LogSummary, error)
	// Search calls emit with each matching record in seq order, as it
	// scans; an error from emit stops it and is returned. The records
	// passed to emit are valid only during the call.
	Search(ctx context.Context, jobID int64, q SearchQuery, emit func(*Record) error) (SearchResult, error)
}
