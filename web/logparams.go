package web

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// logForm is the shape of a log response.
type logForm int

const (
	formSSE logForm = iota
	formNDJSON
	formRaw
)

// Bounds of the log parameters.
const (
	maxCount = 1 << 30 // tail, limit
	maxSeq   = 1 << 62 // after, before
	// defaultBeforeLimit is how many records before=SEQ gives without limit=.
	defaultBeforeLimit = 1000
	// maxFileParam bounds file=: a path (PATH_MAX).
	maxFileParam = 4096
)

// logParams are the query parameters of a log request: where it starts
// (after, since, tail or before: at most one), how many records it gives,
// and the host/stream/file filter, which combines with any of them.
type logParams struct {
	filter gaffer.LogFilter
	after  int64
	since  time.Time // zero: not given
	tail   int       // 0: not given
	before int64     // 0: not given
	limit  int       // 0: no limit
	follow bool
	batch  bool // SSE: a lines event per run of records, not a line event per record
}

// ranged reports whether the request reads from somewhere other than a
// seq it names (tail, before, since).
func (p *logParams) ranged() bool { return p.tail > 0 || p.before > 0 || !p.since.IsZero() }

// parseLogParams reads and checks a log request's parameters for job,
// with an EINVALID error a person understands for any bad one.
func parseLogParams(q url.Values, job *gaffer.Job, form logForm) (logParams, error) {
	var p logParams
	var err error
	if p.filter, err = parseFilter(q, job, form == formRaw); err != nil {
		return p, err
	}
	var starts []string
	if v := q.Get("tail"); v != "" {
		if p.tail, err = intParam(v, "tail", 0, 1, maxCount); err != nil {
			return p, err
		}
		starts = append(starts, "tail")
	}
	if v := q.Get("before"); v != "" {
		if p.before, err = seqParam(v, "before", 1); err != nil {
			return p, err
		}
		starts = append(starts, "before")
	}
	if v := q.Get("after"); v != "" {
		if p.after, err = seqParam(v, "after", 0); err != nil {
			return p, err
		}
		starts = append(starts, "after")
	}
	if v := q.Get("since"); v != "" {
		if p.since, err = timeParam(v, "since"); err != nil {
			return p, err
		}
		starts = append(starts, "since")
	}
	if len(starts) > 1 {
		return p, gaffer.Errorf(gaffer.EINVALID, "%s each say where the log starts: give only one of them", strings.Join(starts, " and "))
	}
	if p.limit, err = intParam(q.Get("limit"), "limit", 0, 1, maxCount); err != nil {
		return p, err
	}
	switch {
	case p.limit > 0 && p.tail > 0:
		return p, gaffer.Errorf(gaffer.EINVALID, "limit cannot be combined with tail: tail=%d already says how many records", p.tail)
	case p.limit > 0 && form == formSSE && p.before == 0:
		return p, gaffer.Errorf(gaffer.EINVALID, "limit has no meaning on an event stream, which goes on to the log's end: use tail=N for the last N records, or before=SEQ&limit=N")
	case p.before > 0 && p.limit == 0:
		p.limit = defaultBeforeLimit
	}
	if p.follow, err = boolParam(q.Get("follow"), "follow"); err != nil {
		return p, err
	}
	switch {
	case p.follow && form == formRaw:
		return p, gaffer.Errorf(gaffer.EINVALID, "follow=1 is not available with format=raw: use the NDJSON or event-stream log to follow a job")
	case p.follow && p.before > 0 && form == formNDJSON:
		return p, gaffer.Errorf(gaffer.EINVALID, "follow=1 cannot be combined with before: before=SEQ reads a page of older records")
	}
	if p.batch, err = boolParam(q.Get("batch"), "batch"); err != nil {
		return p, err
	}
	if p.batch && form != formSSE {
		return p, gaffer.Errorf(gaffer.EINVALID, "batch=1 is for the event stream (Accept: text/event-stream): NDJSON and raw logs hold no events to batch")
	}
	return p, nil
}

// parseFilter reads host=, stream= and file=. The host must be one of the
// job's; raw reads name one host and one stream (by default the job's only
// host, and stdout). Any file may be asked for: a follow job's files are
// found on the hosts, and one without records just selects none.
func parseFilter(q url.Values, job *gaffer.Job, raw bool) (gaffer.LogFilter, error) {
	f := gaffer.LogFilter{Host: q.Get("host"), Stream: gaffer.Stream(q.Get("stream")), File: q.Get("file")}
	if len(f.File) > maxFileParam {
		return f, gaffer.Errorf(gaffer.EINVALID, "file= is %d bytes long; a path has at most %d", len(f.File), maxFileParam)
	}
	if raw {
		if f.Host == "" && len(job.Runs) == 1 {
			f.Host = job.Runs[0].Host
		}
		if !hasRun(job, f.Host) {
			return f, gaffer.Errorf(gaffer.EINVALID, "raw log: host=%q is not a host of job %d; give one of %s", f.Host, job.ID, runHosts(job))
		}
		if f.Stream == "" {
			f.Stream = gaffer.Stdout
		}
	} else if f.Host != "" && !hasRun(job, f.Host) {
		return f, gaffer.Errorf(gaffer.EINVALID, "host=%q is not a host of job %d; give one of %s", f.Host, job.ID, runHosts(job))
	}
	if f.Stream != "" && f.Stream != gaffer.Stdout && f.Stream != gaffer.Stderr && f.Stream != gaffer.System {
		return f, gaffer.Errorf(gaffer.EINVALID, "stream=%q must be stdout, stderr or system", f.Stream)
	}
	return f, nil
}

// seqParam parses a sequence number from min to maxSeq.
func seqParam(v, name string, min int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > maxSeq {
		return 0, gaffer.Errorf(gaffer.EINVALID, "%s=%q must be a sequence number from %d to %d", name, v, min, int64(maxSeq))
	}
	return n, nil
}

// timeParam parses an RFC 3339 time.
func timeParam(v, name string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, gaffer.Errorf(gaffer.EINVALID, "%s=%q is not an RFC 3339 time such as 2026-11-25T22:01:02Z", name, v)
	}
	return t, nil
}

// parseSearch reads a search request's parameters into a checked query.
func parseSearch(q url.Values, job *gaffer.Job) (gaffer.SearchQuery, error) {
	var sq gaffer.SearchQuery
	var err error
	if sq.Filter, err = parseFilter(q, job, false); err != nil {
		return sq, err
	}
	sq.Pattern = q.Get("q")
	if sq.Regex, err = boolParam(q.Get("regex"), "regex"); err != nil {
		return sq, err
	}
	if sq.Case, err = boolParam(q.Get("case"), "case"); err != nil {
		return sq, err
	}
	if v := q.Get("after"); v != "" {
		if sq.After, err = seqParam(v, "after", 0); err != nil {
			return sq, err
		}
	}
	if sq.Limit, err = intParam(q.Get("limit"), "limit", gaffer.DefaultSearchLimit, 1, gaffer.MaxSearchLimit); err != nil {
		return sq, err
	}
	if _, err := sq.Compile(); err != nil {
		return sq, err
	}
	return sq, nil
}

// boolParam parses an optional 1/0 switch.
func boolParam(v, name string) (bool, error) {
	switch v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, gaffer.Errorf(gaffer.EINVALID, "%s=%q must be 1 or 0", name, v)
}
