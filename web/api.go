package web

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
)

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := gaffer.JobFilter{Status: gaffer.Status(q.Get("status")), Host: q.Get("host")}
	if f.Status != "" && !f.Status.Valid() {
		s.error(w, r, gaffer.Errorf(gaffer.EINVALID, "status %q is not one of queued, running, succeeded, failed, canceled, timed_out, interrupted", f.Status))
		return
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), "limit", 50, 1, 1000); err != nil {
		s.error(w, r, err)
		return
	}
	before, err := intParam(q.Get("before"), "before", 0, 1, 1<<62)
	if err != nil {
		s.error(w, r, err)
		return
	}
	f.Before = int64(before)
	jobs, err := s.Jobs.Jobs(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	if jobs == nil {
		jobs = []*gaffer.Job{}
	}
	writeJSON(w, http.StatusOK, jobs)
}

// intParam parses an optional whole-number query parameter within bounds.
func intParam(v, name string, def, min, max int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, gaffer.Errorf(gaffer.EINVALID, "%s=%q must be a whole number from %d to %d", name, v, min, max)
	}
	return n, nil
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) {
	var req gaffer.JobRequest
	if err := decodeJSON(r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	job, err := s.Jobs.Start(r.Context(), req, UserFrom(r.Context()).Name)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.auditJobStart(r, job, slices.Collect(maps.Keys(req.Secrets)))
	w.Header().Set("Location", "/api/jobs/"+strconv.FormatInt(job.ID, 10))
	w.Header().Set("Link", s.jobPageLink(job.ID))
	writeJSON(w, http.StatusCreated, job)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	job, err := s.Jobs.Job(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Link", s.jobPageLink(job.ID))
	writeJSON(w, http.StatusOK, job)
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	job, err := s.Jobs.Cancel(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.auditJobCancel(r, job)
	writeJSON(w, http.StatusAccepted, job)
}

func (s *Server) listHosts(w http.ResponseWriter, r *http.Request) {
	hosts := s.Jobs.Hosts()
	if hosts == nil {
		hosts = []gaffer.Host{}
	}
	for i := range hosts {
		if hosts[i].Labels == nil {
			hosts[i].Labels = map[string]string{}
		}
	}
	writeJSON(w, http.StatusOK, hosts)
}

// getLog serves a job's log as SSE, NDJSON or raw bytes.
func (s *Server) getLog(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	job, err := s.Jobs.Job(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	q := r.URL.Query()
	switch {
	case q.Get("format") == "raw":
		s.rawLog(w, r, job)
	case strings.Contains(r.Header.Get("Accept"), "text/event-stream") || q.Get("format") == "sse":
		s.sseLog(w, r, job)
	default:
		s.ndjsonLog(w, r, job)
	}
}

func (s *Server) rawLog(w http.ResponseWriter, r *http.Request, job *gaffer.Job) {
	ctx := r.Context()
	p, err := parseLogParams(r.URL.Query(), job, formRaw)
	if err != nil {
		s.error(w, r, err)
		return
	}
	disposition := "inline"
	if download, err := boolParam(r.URL.Query().Get("download"), "download"); err != nil {
		s.error(w, r, err)
		return
	} else if download {
		disposition = fmt.Sprintf("attachment; filename=%q", rawFileName(job.ID, p.filter))
	}
	if !p.ranged() && p.after == 0 && p.limit == 0 && p.filter.File == "" {
		w.Header().Set("Content-Disposition", disposition)
		dw := s.logWriter(w, r, "text/plain; charset=utf-8")
		if err := s.Jobs.RawLog(ctx, job.ID, p.filter.Host, p.filter.Stream, dw); err != nil {
			s.Logger.Warn("raw log", "job", job.ID, "err", err)
		}
		return
	}
	// A range of the stream: its records' bytes, each line with its newline.
	cur := newCursor(s.Jobs, job.ID, p.filter, p.after)
	first, left, err := startRange(ctx, s.Jobs, &p, cur)
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Content-Disposition", disposition)
	dw := s.logWriter(w, r, "text/plain; charset=utf-8")
	bw := bufio.NewWriterSize(dw, streamBuffer)
	defer bw.Flush()
	write := func(recs []gaffer.Record) {
		for i := range recs {
			bw.Write(recs[i].Data)
			if recs[i].NL {
				bw.WriteByte('\n')
			}
		}
	}
	if first != nil {
		write(first)
		return
	}
	if left < 0 && p.limit > 0 {
		left = p.limit
	}
	for left != 0 {
		recs, moved, end, err := cur.next(ctx)
		var gap *gaffer.GapError
		if errors.As(err, &gap) {
			cur.skip(gap.To)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				s.Logger.Error("raw read", "job", job.ID, "err", err)
			}
			return
		}
		if left > 0 && len(recs) > left {
			recs = recs[:left]
		}
		write(recs)
		if left > 0 {
			left -= len(recs)
		}
		if end || !moved {
			return
		}
	}
}

// rawFileName names a raw download: job-42-web-1-stdout.log, or for a
// followed file job-42-web-1-error.log (its base name), names reduced to
// characters safe in any file system and header.
func rawFileName(id int64, f gaffer.LogFilter) string {
	safe := func(s string) string {
		b := []byte(s)
		for i, c := range b {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				b[i] = '_'
			}
		}
		return strings.TrimLeft(string(b), ".")
	}
	if f.File != "" {
		return fmt.Sprintf("job-%d-%s-%s.log", id, safe(f.Host), safe(strings.TrimSuffix(path.Base(f.File), ".log")))
	}
	return fmt.Sprintf("job-%d-%s-%s.log", id, safe(f.Host), f.Stream)
}

func hasRun(job *gaffer.Job, host string) bool {
	for _, r := range job.Runs {
		if r.Host == host {
			return true
		}
	}
	return false
}

func runHosts(job *gaffer.Job) string {
	var names []string
	for _, r := range job.Runs {
		names = append(names, r.Host)
	}
	return strings.Join(names, ", ")
}

// readAfter returns where a stream starts: Last-Event-ID, else ?after=.
// The header wins: an EventSource opened with ?after= keeps that URL and
// sends the header when it reconnects, and the header is the newer. A value
// that is not a sequence number starts at the beginning rather than failing,
// because any error status would stop an EventSource for good.
func readAfter(r *http.Request) int64 {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

const batchLimit = 1000

// streamBuffer is the buffer of one log stream's writer: what one viewer
// costs the server beyond one read of the log (gaffer.MaxReadBytes).
const streamBuffer = 4 << 10

// logWriter sets the headers of a log response (SSE, NDJSON, raw) and
// returns the writer its body goes through. Over HTTP/1 the connection
// closes with the response, which ends the body: each write has its own deadline (see
// deadlineWriter), which must not linger on a connection that serves another
// request. Over HTTP/2 the deadline is the stream's own, and "Connection:
// close" would make Go send GOAWAY: the browser would then open a connection
// per stream and stall at six, as over HTTP/1.
func (s *Server) logWriter(w http.ResponseWriter, r *http.Request, contentType string) *deadlineWriter {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if r.ProtoMajor < 2 {
		h.Set("Connection", "close")
		// Not chunked: the body runs to the connection's close (net/http
		// drops this header and sends none). A read's events then go out
		// in one write, not a chunk header, the data and a trailer: with a
		// thousand viewers, that is most of the server's work.
		h.Set("Transfer-Encoding", "identity")
	}
	return &deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: s.writeTimeout()}
}

// deadlineWriter gives every write to the connection a fresh write
// deadline: a viewer that stops reading gets its connection closed after
// that long instead of holding the server's memory for ever, and a viewer
// that keeps reading is never cut, however long its stream. A deadline set
// less than a sixteenth of the timeout ago is kept: a busy stream (a
// thousand viewers of a burst) does not move a timer at every write.
type deadlineWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
	set     time.Time // when the deadline was last moved
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.extend()
	return d.w.Write(p)
}

// Flush sends what the response holds, within a fresh deadline.
func (d *deadlineWriter) Flush() error {
	d.extend()
	return d.rc.Flush()
}

func (d *deadlineWriter) extend() {
	now := time.Now()
	if !d.set.IsZero() && now.Sub(d.set) < d.timeout/16 {
		return
	}
	d.set = now
	d.rc.SetWriteDeadline(now.Add(d.timeout))
}

// sseLog streams the log as Server-Sent Events from where the request
// says (after, tail, before, since) until the log ends. The viewer reads
// from the log at its own pace; the job never waits for it, and a viewer
// that stops reading is cut off (deadlineWriter).
//
// A reconnect (Last-Event-ID) goes on after that event whatever its URL
// says about where to start: an EventSource keeps the URL it was opened
// with (?tail=100), and must neither get the tail again nor fail, as any
// error status stops it for good. So only a first open is checked (400 for
// a bad parameter); a reconnect reads only host= and stream=, which the
// first open checked.
func (s *Server) sseLog(w http.ResponseWriter, r *http.Request, job *gaffer.Job) {
	ctx := r.Context()
	var p logParams
	var err error
	resume := r.Header.Get("Last-Event-ID") != ""
	if resume {
		p.filter, err = parseFilter(r.URL.Query(), job, false)
		p.after = readAfter(r)
		p.batch, _ = boolParam(r.URL.Query().Get("batch"), "batch")
	} else {
		p, err = parseLogParams(r.URL.Query(), job, formSSE)
	}
	if err != nil {
		s.error(w, r, err)
		return
	}
	cur := newCursor(s.Jobs, job.ID, p.filter, p.after)
	var first []gaffer.Record
	if !resume {
		// The records of the range are sent, then everything after them:
		// an event stream goes on to the log's end.
		if first, _, err = startRange(ctx, s.Jobs, &p, cur); err != nil {
			s.error(w, r, err)
			return
		}
		cur.until = 0
	}
	ctx, closeStream, err := s.openStream(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	defer closeStream()
	dw := s.logWriter(w, r, "text/event-stream")
	w.WriteHeader(http.StatusOK)

	bw := bufio.NewWriterSize(dw, streamBuffer)
	ping := s.PingInterval
	if ping <= 0 {
		ping = 15 * time.Second
	}
	bound := newWaitBound(ctx, ping)
	defer bound.stop()
	lastWrite := time.Now()
	flush := func() error {
		lastWrite = time.Now()
		bound.reset()
		if err := bw.Flush(); err != nil {
			return err
		}
		return dw.Flush()
	}
	bw.WriteString("retry: 2000\n\n")
	jobData, _ := json.Marshal(job)
	lastStatus := writeStatus(bw, jobData, nil)
	var lineEnc gaffer.JSONEncoder
	form := lineEvents
	if p.batch {
		form = linesEvents
	}
	// Records go out through pend: a viewer behind the log gathers a few
	// reads before it writes (see pendingEvents); anything else written to
	// bw goes after them (send first).
	var pend pendingEvents
	defer pend.writeTo(io.Discard) // the buffer back to the pool
	gatherWait := pendingWait
	if s.gatherWait > 0 {
		gatherWait = s.gatherWait
	}
	writeLines := func(recs []gaffer.Record) { pend.add(&lineEnc, recs, form) }
	send := func() { pend.writeTo(bw) }
	writeLines(first)
	send()
	// lastID is the id the viewer has: marking where a range starts, or
	// how far a filter has read, lets a reconnect go on from there.
	lastID := cur.after
	if len(first) == 0 && !resume && p.ranged() {
		writeMark(bw, cur.after)
	}
	if flush() != nil {
		return
	}
	var enc *encLog // the shared encoded log, for a viewer of all of it
	if cur.filter.Zero() && cur.until == 0 {
		enc = s.enc.acquire(job.ID)
		defer s.enc.release(enc)
	}
	cur.follows = true
	if p.batch && cur.filter.Zero() {
		// Lines events of the whole log: read as lines, no Record per line
		// (but through the ring, which holds Records, while it is shared).
		cur.lines = new(gaffer.Lines)
	}
	var pause idle
	woke := false // the last WaitLog returned before its timeout
	for {
		var (
			sp         encSpan
			recs       []gaffer.Record
			lines      int // records read into cur.lines
			moved, end bool
			err        error
		)
		if cur.lines != nil && !enc.shared() {
			if moved, end, err = cur.nextLines(ctx); moved {
				lines = cur.lines.Len()
			}
		} else {
			sp, recs, moved, end, err = enc.next(ctx, s.Jobs, cur)
		}
		got := len(recs) + sp.n() + lines
		if (got == 0 || err != nil) && pend.len() > 0 {
			// Caught up (or failed): what was gathered goes out now.
			send()
			if flush() != nil {
				return
			}
		}
		var gap *gaffer.GapError
		if errors.As(err, &gap) {
			// Lost records: say so and go on after them (the event's id
			// lets a reconnect do the same). Not "error": see below.
			data, _ := json.Marshal(map[string]any{"from": gap.From, "to": gap.To, "message": gap.Error()})
			writeEvent(bw, gap.To, "gap", data)
			cur.skip(gap.To)
			if flush() != nil {
				return
			}
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				s.Logger.Error("sse read", "job", job.ID, "err", err)
				// Not "error": EventSource uses that name for its own connection errors.
				writeEvent(bw, 0, "notice", []byte(`{"message":"the server could not read this log; reload to try again"}`))
				flush()
			}
			return
		}
		writeLines(recs)
		if len(recs) > 0 {
			lastID = recs[len(recs)-1].Seq
		}
		if lines > 0 {
			pend.append(func(b []byte) []byte { return appendLinesSpans(b, &lineEnc, cur.lines) })
			lastID = cur.lines.Last()
		}
		if sp.n() > 0 {
			if p.batch {
				pend.append(sp.appendLines)
			} else {
				send()
				bw.Write(sp.sse())
			}
			lastID = sp.lastSeq()
		}
		// Status changes come with a system line (run started, run ended),
		// of any host: the filter may have dropped it.
		if cur.system || end {
			if j, data, err := enc.job(ctx, s.Jobs, job.ID, cur.after, end); err == nil {
				if end || string(data) != string(lastStatus) {
					send() // the records before the event
				}
				lastStatus = writeStatus(bw, data, lastStatus)
				if end {
					data, _ := json.Marshal(map[string]gaffer.Status{"status": j.Status})
					writeEvent(bw, 0, "end", data)
				}
			}
		}
		// Behind the log (this read brought records, more may be there at
		// once): gather them, a few milliseconds at most.
		gather := moved && !end && pend.len() > 0 && pend.len() < pendingBytes && time.Since(lastWrite) < gatherWait
		if (got > 0 || end) && !gather {
			send()
			if flush() != nil || end {
				return
			}
		}
		if moved {
			pause.reset()
			woke = false
			if time.Since(lastWrite) > ping {
				// A filter that drops all of a busy log sends nothing.
				send()
				lastID = writeMark(bw, cur.after)
				if flush() != nil {
					return
				}
			}
			continue // more may be there already; wait only when caught up
		}
		if cur.after != lastID {
			lastID = writeMark(bw, cur.after)
			if flush() != nil {
				return
			}
		}
		if woke {
			pause.wait(ctx)
		}
		passed := bound.wait(s.Jobs, job.ID, cur.after)
		if ctx.Err() != nil {
			return
		}
		woke = !passed
		if passed {
			bw.WriteString(": ping\n\n")
			if flush() != nil {
				return
			}
		}
	}
}

// pendingWait bounds how long a viewer behind the log gathers reads
// before it writes them (pendingBytes bounds how much).
const pendingWait = 5 * time.Millisecond

// writeStatus sends a status event when the job (its JSON) differs from
// what was sent.
func writeStatus(bw *bufio.Writer, data, last []byte) []byte {
	if string(data) != string(last) {
		writeEvent(bw, 0, "status", data)
	}
	return data
}

// writeMark writes an id without an event: the EventSource keeps it as its
// last event id and sends it when it reconnects, so a stream that starts
// (tail, since) or reads on (a filter) past records it does not send
// resumes there. It returns seq.
func writeMark(bw *bufio.Writer, seq int64) int64 {
	var num [20]byte
	bw.WriteString("id: ")
	bw.Write(strconv.AppendInt(num[:0], seq, 10))
	bw.WriteString("\n\n")
	return seq
}

// writeEvent writes one SSE event; id 0 means none.
func writeEvent(bw *bufio.Writer, id int64, event string, data []byte) {
	if id != 0 {
		var num [20]byte
		bw.WriteString("id: ")
		bw.Write(strconv.AppendInt(num[:0], id, 10))
		bw.WriteByte('\n')
	}
	bw.WriteString("event: ")
	bw.WriteString(event)
	bw.WriteString("\ndata: ")
	bw.Write(data)
	bw.WriteString("\n\n")
}

// ndjsonLog writes the records of the range the request asks for (by
// default all so far; with follow=1 on until the log ends) as one JSON
// object per line.
func (s *Server) ndjsonLog(w http.ResponseWriter, r *http.Request, job *gaffer.Job) {
	ctx := r.Context()
	p, err := parseLogParams(r.URL.Query(), job, formNDJSON)
	if err != nil {
		s.error(w, r, err)
		return
	}
	cur := newCursor(s.Jobs, job.ID, p.filter, p.after)
	first, left, err := startRange(ctx, s.Jobs, &p, cur)
	if err != nil {
		s.error(w, r, err)
		return
	}
	// left counts the records still to send (-1: no bound); a tail, once
	// sent, goes on live with follow=1.
	rangeDone := first != nil || left == 0
	if left < 0 && p.limit > 0 {
		left = p.limit
	}
	if p.follow {
		sctx, closeStream, err := s.openStream(w, r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		defer closeStream()
		ctx = sctx
	}
	dw := s.logWriter(w, r, "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(dw, streamBuffer)
	defer bw.Flush()
	var lineEnc gaffer.JSONEncoder
	writeLines := func(recs []gaffer.Record) { writeRecords(bw, &lineEnc, recs, ndjsonLines) }
	writeLines(first)
	if rangeDone {
		if !p.follow || p.tail == 0 {
			return
		}
		left = -1
	}
	var enc *encLog // the shared encoded log, for a reader of all of it
	if cur.filter.Zero() && cur.until == 0 {
		enc = s.enc.acquire(job.ID)
		defer s.enc.release(enc)
	}
	var sp encSpan
	var recs []gaffer.Record
	// write writes records [i, j) of this read.
	write := func(i, j int) {
		if sp.n() > 0 {
			bw.Write(sp.ndjson(i, j))
		} else {
			writeLines(recs[i:j])
		}
	}
	var pause idle
	woke := false
	bound := newWaitBound(ctx, 15*time.Second)
	defer bound.stop()
	for {
		var moved, end bool
		var err error
		sp, recs, moved, end, err = enc.next(ctx, s.Jobs, cur)
		var gap *gaffer.GapError
		if errors.As(err, &gap) {
			// Not a record: a line of its own, so that readers can tell.
			data, _ := json.Marshal(map[string]any{"gap": map[string]int64{"from": gap.From, "to": gap.To}, "message": gap.Error()})
			bw.Write(append(data, '\n'))
			cur.skip(gap.To)
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				s.Logger.Error("ndjson read", "job", job.ID, "err", err)
			}
			return
		}
		n := len(recs) + sp.n() // one of them is 0
		if left >= 0 && n >= left {
			write(0, left)
			if !p.follow || p.tail == 0 {
				return
			}
			// The tail is sent: follow on from its last record.
			if n > left {
				write(left, n)
			}
			left = -1
		} else {
			write(0, n)
			if left > 0 {
				left -= n
			}
		}
		if end {
			return
		}
		if moved {
			pause.reset()
			woke = false
			continue
		}
		if !p.follow {
			return
		}
		if bw.Flush() != nil || dw.Flush() != nil {
			return
		}
		if woke {
			pause.wait(ctx)
		}
		passed := bound.wait(s.Jobs, job.ID, cur.after)
		if ctx.Err() != nil {
			return
		}
		woke = !passed
	}
}
