package web

import (
	"bufio"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// logSummary answers GET /api/jobs/{id}/log/summary.
func (s *Server) logSummary(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	sum, err := s.Jobs.LogSummary(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// searchLog answers GET /api/jobs/{id}/log/search: the matching records as
// NDJSON, sent as they are found, then a trailer line (gaffer.SearchResult);
// if the search fails midway, an error line ({"error": …}) instead.
func (s *Server) searchLog(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	job, err := s.Jobs.Job(ctx, id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	q, err := parseSearch(r.URL.Query(), job)
	if err != nil {
		s.error(w, r, err)
		return
	}
	ctx, closeStream, err := s.openStream(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	defer closeStream()
	dw := s.logWriter(w, r, "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	out := newTimedWriter(dw)
	var buf []byte
	res, err := s.Jobs.SearchLog(ctx, id, q, func(rec *gaffer.Record) error {
		buf = rec.AppendJSON(buf[:0])
		return out.write(append(buf, '\n'))
	})
	out.stop()
	var last []byte
	if err != nil {
		if ctx.Err() != nil || out.err != nil {
			return
		}
		code := gaffer.ErrorCode(err)
		if code == gaffer.EINTERNAL {
			s.Logger.Error("search", "job", id, "err", err)
		}
		last, _ = json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": gaffer.ErrorMessage(err)}})
	} else {
		last, _ = json.Marshal(res)
	}
	out.bw.Write(append(last, '\n'))
	if out.bw.Flush() == nil {
		dw.Flush()
	}
}

// searchFlush is how soon a match found is sent at the latest.
const searchFlush = 50 * time.Millisecond

// timedWriter sends a search's matches as they are found without a flush
// per match: the first goes at once, the next within searchFlush, so a
// sparse search shows each match at once and a dense one runs at full speed.
type timedWriter struct {
	mu    sync.Mutex
	bw    *bufio.Writer
	dw    *deadlineWriter
	dirty bool
	sent  bool
	err   error // the first write error: the viewer is gone
	quit  chan struct{}
	done  chan struct{}
}

func newTimedWriter(dw *deadlineWriter) *timedWriter {
	t := &timedWriter{bw: bufio.NewWriterSize(dw, streamBuffer), dw: dw, quit: make(chan struct{}), done: make(chan struct{})}
	go t.loop()
	return t
}

func (t *timedWriter) write(p []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return t.err
	}
	if _, err := t.bw.Write(p); err != nil {
		t.err = err
		return err
	}
	t.dirty = true
	if !t.sent {
		t.sent = true
		t.flushLocked()
	}
	return t.err
}

func (t *timedWriter) flushLocked() {
	if !t.dirty || t.err != nil {
		return
	}
	t.dirty = false
	if err := t.bw.Flush(); err != nil {
		t.err = err
		return
	}
	t.err = t.dw.Flush()
}

func (t *timedWriter) loop() {
	defer close(t.done)
	tick := time.NewTicker(searchFlush)
	defer tick.Stop()
	for {
		select {
		case <-t.quit:
			return
		case <-tick.C:
			t.mu.Lock()
			t.flushLocked()
			t.mu.Unlock()
		}
	}
}

// stop ends the flushing; the caller writes the rest itself.
func (t *timedWriter) stop() {
	close(t.quit)
	<-t.done
}
