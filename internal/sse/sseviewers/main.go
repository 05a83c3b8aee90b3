// Command sseviewers plays thousands of browsers watching one job's log:
// each viewer is an EventSource in a few kilobytes (a raw HTTP/1.1 request
// on its own TCP connection) that resumes with Last-Event-ID after a
// dropped stream or an error status, as a browser does. It prints a JSON
// summary on stdout for the test that runs it.
//
// It is a program of its own, built without the race detector, because
// the race detector allows 8128 goroutines and 10 000 viewers need more.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gaffer-dev/gaffer/internal/sse"
)

// summary is what the run saw, printed as JSON.
type summary struct {
	Viewers    int         `json:"viewers"`
	Statuses   map[int]int `json:"statuses"` // responses by HTTP status; 0: the connection failed
	Reconnects int64       `json:"reconnects"`
	Watching   int64       `json:"watching"` // viewers answered 200 by the time all were or the deadline came
	// Complete viewers got the end event and every record from seq 1 to
	// their last exactly once, in order; LastSeqs counts them by that last
	// seq (one key, the job's record count, when all is well).
	Complete   int           `json:"complete"`
	LastSeqs   map[int64]int `json:"last_seqs"`
	Disordered int           `json:"disordered"` // a record missing, repeated or out of order, or a gap event
	NoEnd      int           `json:"no_end"`     // never got the end event before the deadline
	// Seconds: until every viewer was watching; the longest connection
	// set-up (dial to response header); from the ready file until the last
	// viewer had the end.
	AllWatchingS float64 `json:"all_watching_s"`
	MaxConnectS  float64 `json:"max_connect_s"`
	EndedS       float64 `json:"ended_after_ready_s"`
}

func main() {
	var (
		server   = flag.String("url", "", "the server's base URL, http://127.0.0.1:PORT")
		token    = flag.String("token", "", "the bearer token")
		jobID    = flag.Int64("job", 0, "the job whose log to watch")
		viewers  = flag.Int("viewers", 10000, "number of viewers")
		parallel = flag.Int("parallel", 200, "connections being set up at once")
		ready    = flag.String("ready", "", "file to create once every viewer is watching (optional)")
		within   = flag.Duration("deadline", 2*time.Minute, "the whole run's time limit")
	)
	flag.Parse()
	u, err := url.Parse(*server)
	if err != nil || u.Scheme != "http" || u.Host == "" || *jobID <= 0 || *viewers <= 0 || *parallel <= 0 {
		fmt.Fprintln(os.Stderr, "sseviewers: need -url http://HOST:PORT, -job ID > 0, -viewers > 0 and -parallel > 0")
		os.Exit(2)
	}
	// The Go runtime raised the soft limit to the hard one already.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(*viewers)+64 {
		fmt.Fprintf(os.Stderr, "sseviewers: %d viewers need a file limit of at least %d; it is %d (ulimit -n)\n", *viewers, *viewers+64, lim.Cur)
		os.Exit(2)
	}
	s := run(u.Host, *token, *jobID, *viewers, *parallel, *ready, time.Now().Add(*within))
	json.NewEncoder(os.Stdout).Encode(s)
}

func run(addr, token string, jobID int64, n, parallel int, ready string, deadline time.Time) summary {
	var (
		mu         sync.Mutex
		statuses   = map[int]int{}
		maxConnect time.Duration
		reconnects atomic.Int64
		watching   atomic.Int64
		wg         sync.WaitGroup
		dial       = make(chan struct{}, parallel)
		all        = make([]*viewer, n)
	)
	start := time.Now()
	for i := range all {
		v := &viewer{addr: addr, token: token, jobID: jobID, deadline: deadline, inOrder: true}
		all[i] = v
		wg.Add(1)
		dial <- struct{}{}
		go func() {
			defer wg.Done()
			var once sync.Once
			answered := func(ok bool, took time.Duration) {
				mu.Lock()
				maxConnect = max(maxConnect, took)
				mu.Unlock()
				once.Do(func() { // the first attempt holds a dial slot
					<-dial
					if ok {
						watching.Add(1)
					}
				})
			}
			for first := true; !v.ended && time.Now().Before(deadline); first = false {
				if !first {
					reconnects.Add(1)
					time.Sleep(2 * time.Second) // the stream's retry: 2000
				}
				code := v.once(answered)
				mu.Lock()
				statuses[code]++
				mu.Unlock()
			}
		}()
	}
	for watching.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	s := summary{Viewers: n, Watching: watching.Load(), AllWatchingS: time.Since(start).Seconds(), LastSeqs: map[int64]int{}}
	readyAt := time.Now()
	if ready != "" && s.Watching == int64(n) {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "sseviewers: %v\n", err)
			os.Exit(1)
		}
	}
	wg.Wait()
	s.EndedS = time.Since(readyAt).Seconds()
	s.Statuses, s.Reconnects, s.MaxConnectS = statuses, reconnects.Load(), maxConnect.Seconds()
	for _, v := range all {
		switch {
		case !v.inOrder:
			s.Disordered++
		case !v.ended:
			s.NoEnd++
		default:
			s.Complete++
			s.LastSeqs[v.last]++
		}
	}
	return s
}

// viewer is one browser's EventSource.
type viewer struct {
	addr, token string
	jobID       int64
	deadline    time.Time // of the whole run
	last        int64     // seq of the last record received
	inOrder     bool      // every record came in order, none repeated or missing
	ended       bool
}

// once makes one connection and reads it until the end event or the stream
// drops. It returns the HTTP status (0 when the connection failed), and
// calls answered once, when the response's header came (ok: a 200) or the
// attempt failed, with the time that took.
func (v *viewer) once(answered func(ok bool, took time.Duration)) int {
	start := time.Now()
	ok := false
	defer func() {
		if !ok {
			answered(false, time.Since(start))
		}
	}()
	conn, err := net.DialTimeout("tcp", v.addr, 30*time.Second)
	if err != nil {
		return 0
	}
	defer conn.Close()
	conn.SetDeadline(v.deadline)
	req := fmt.Sprintf("GET /api/jobs/%d/log HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nAuthorization: Bearer %s\r\n", v.jobID, v.addr, v.token)
	if v.last > 0 {
		req += fmt.Sprintf("Last-Event-ID: %d\r\n", v.last)
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), nil)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode
	}
	ok = true
	answered(true, time.Since(start))
	sse.Read(resp.Body, func(ev sse.Event) bool {
		switch ev.Type {
		case "line":
			var r struct{ Seq int64 }
			if json.Unmarshal(ev.Data, &r) != nil || r.Seq != v.last+1 {
				v.inOrder = false
			}
			v.last = r.Seq
		case "gap":
			v.inOrder = false // records were lost
		case "end":
			v.ended = true
			return false
		}
		return true
	})
	return http.StatusOK
}
