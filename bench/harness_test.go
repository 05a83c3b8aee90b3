package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// adminToken is the fixed token every benchmark server is started with.
const adminToken = "bench-admin-token-0123456789abcdef"

// hostName is the inventory name of the one sshtest host.
const hostName = "h1"

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// gafferBinary builds ./cmd/gaffer once per test binary and returns its path.
func gafferBinary(b *testing.B) string {
	b.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			buildErr = errors.New("go env GOMOD: not inside the module")
			return
		}
		if binDir, err = os.MkdirTemp("", "gaffer-bench-bin-"); err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(binDir, "gaffer")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/gaffer")
		cmd.Dir = filepath.Dir(gomod)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/gaffer: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binPath
}

// env is one benchmark's world: an sshd with one host and a gaffer server
// pointed at it.
type env struct {
	ssh *sshtest.Server
	srv *server
}

func newEnv(b *testing.B) *env {
	b.Helper()
	bin := gafferBinary(b)
	s := sshtest.Start(b, sshtest.Options{Hosts: 1})
	return &env{ssh: s, srv: startServer(b, bin, writeInventory(b, s, []string{hostName}, ""), s.KnownHosts)}
}

// writeInventory writes a hosts file with one host per name, the i-th at
// the i-th address of s, each with labels (YAML flow mapping, "" for none).
func writeInventory(b *testing.B, s *sshtest.Server, names []string, labels string) string {
	b.Helper()
	if len(names) > len(s.Addrs) {
		b.Fatalf("inventory of %d hosts for %d sshd addresses", len(names), len(s.Addrs))
	}
	var yaml strings.Builder
	yaml.WriteString("hosts:\n")
	for i, name := range names {
		host, _, _ := net.SplitHostPort(s.Addrs[i])
		fmt.Fprintf(&yaml, "  - name: %s\n    address: %s\n    port: %d\n    user: %s\n    identity_file: %s\n",
			name, host, s.Port, s.User, s.KeyFile)
		if labels != "" {
			fmt.Fprintf(&yaml, "    labels: %s\n", labels)
		}
	}
	inv := filepath.Join(b.TempDir(), "hosts.yaml")
	if err := os.WriteFile(inv, []byte(yaml.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return inv
}

// server is a `gaffer serve` subprocess.
type server struct {
	URL     string
	PID     int
	DataDir string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	lastJob int64 // waitRetained's: the newest finished job
}

// startServer runs `gaffer serve --local=false` on a free port with its own
// data directory, the inventory inv and known_hosts file known; extra flags
// (shared mode) follow.
func startServer(b *testing.B, bin, inv, known string, extra ...string) *server {
	b.Helper()
	return startServerEnv(b, nil, bin, inv, known, extra...)
}

// startServerEnv is startServer with variables (KEY=value) added to the
// server's environment.
func startServerEnv(b *testing.B, env []string, bin, inv, known string, extra ...string) *server {
	b.Helper()
	dir := b.TempDir()
	srv := &server{DataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "server.log"), done: make(chan struct{})}
	// Runs after srv.stop (cleanups run last-in first-out): anything the
	// server logged at warn or above, shutdown included, is worth seeing.
	b.Cleanup(func() {
		if log := strings.TrimSpace(srv.log()); log != "" {
			b.Logf("gaffer serve logged:\n%s", log)
		}
	})
	logf, err := os.Create(srv.logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", srv.DataDir,
		"--inventory", inv, "--known-hosts", known, "--admin-token", adminToken,
		"--local=false", "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	srv.cmd, srv.PID = cmd, cmd.Process.Pid
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "gaffer: listening on "); ok {
				select {
				case urlc <- strings.Fields(rest)[0]:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(srv.done) }()
	b.Cleanup(srv.stop)
	select {
	case srv.URL = <-urlc:
	case <-srv.done:
		b.Fatalf("gaffer serve exited at start (%v):\n%s", cmd.ProcessState, srv.log())
	case <-time.After(60 * time.Second):
		b.Fatalf("gaffer serve did not start in 60 s:\n%s", srv.log())
	}
	return srv
}

func (s *server) log() string {
	data, _ := os.ReadFile(s.logPath)
	if len(data) > 8000 {
		data = append([]byte("...\n"), data[len(data)-8000:]...)
	}
	return string(data)
}

// stop sends SIGTERM and waits, then SIGKILL.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *server) request(ctx context.Context, method, path string, body io.Reader, hdr ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return http.DefaultClient.Do(req)
}

// job is the part of the API's job object the benchmarks read.
type job struct {
	ID         int64      `json:"id"`
	Status     string     `json:"status"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Runs       []struct {
		Host       string     `json:"host"`
		Status     string     `json:"status"`
		ExitCode   *int       `json:"exit_code"`
		Error      string     `json:"error"`
		StartedAt  *time.Time `json:"started_at"`
		FinishedAt *time.Time `json:"finished_at"`
	} `json:"runs"`
}

// runDuration is the run's started_at..finished_at as the server recorded it.
func (j *job) runDuration() time.Duration {
	if len(j.Runs) == 0 || j.Runs[0].StartedAt == nil || j.Runs[0].FinishedAt == nil {
		return 0
	}
	return j.Runs[0].FinishedAt.Sub(*j.Runs[0].StartedAt)
}

// startJob starts command on the one host of newEnv.
func (s *server) startJob(b *testing.B, command string) *job {
	b.Helper()
	return s.startJobOn(b, command, hostName)
}

func (s *server) job(b *testing.B, id int64) *job {
	b.Helper()
	resp, err := s.request(context.Background(), "GET", fmt.Sprintf("/api/jobs/%d", id), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET /api/jobs/%d: %s %s", id, resp.Status, data)
	}
	var j job
	if err := json.Unmarshal(data, &j); err != nil {
		b.Fatalf("GET /api/jobs/%d: %v: %s", id, err, data)
	}
	return &j
}

// waitJob polls until the job is finished: a final status and its
// finished_at set. The status turns final when the last run ends, but the
// server finishes the job (checks the archive against what the host sent,
// completes it, closes the live log) after that, for seconds on a 1 GiB job;
// a job that only looks done would leak that work into the next one.
func (s *server) waitJob(b *testing.B, id int64, timeout time.Duration) *job {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := s.job(b, id)
		if j.Status != "queued" && j.Status != "running" && j.FinishedAt != nil {
			return j
		}
		if time.Now().After(deadline) {
			b.Fatalf("job %d still %s after %v", id, j.Status, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// record is one `line` event, parsed without encoding/json on the fast path
// so that a viewer that reads two million events costs the shared CPUs as
// little as possible. Text aliases the reader's buffer: valid only during the
// callback.
type record struct {
	Seq    int64
	TS     []byte // RFC 3339, as sent
	Stream []byte
	Text   []byte
	// Partial is set for a part of a line (nl false): a long line cut,
	// or an unfinished one shown after the stream was quiet for a while.
	Partial bool
}

// parseRecord reads the fields of the record JSON the server writes
// ({"seq":..,"ts":"..","host":"..","stream":"..",["file":"..",]"text":"..",
// "nl":..[,"alert":true]}) in one pass, left to right (parseRecordFast).
// Anything else (a string with escapes, control bytes or invalid UTF-8,
// another order, spaces, other fields) is decoded with encoding/json.
func parseRecord(data []byte) (record, error) {
	if r, ok := parseRecordFast(data); ok {
		return r, nil
	}
	return parseRecordJSON(data)
}

// parseRecordFast parses data if it has exactly the shape the server
// writes and its strings need no decoding; ok false otherwise.
func parseRecordFast(data []byte) (r record, ok bool) {
	s, ok := bytes.CutPrefix(data, []byte(`{"seq":`))
	if !ok {
		return r, false
	}
	i := 0
	for i < len(s) && i < 18 && '0' <= s[i] && s[i] <= '9' {
		r.Seq = r.Seq*10 + int64(s[i]-'0')
		i++
	}
	if i == 0 || (s[0] == '0' && i > 1) {
		return r, false
	}
	if s, ok = bytes.CutPrefix(s[i:], []byte(`,"ts":"`)); !ok {
		return r, false
	}
	if r.TS, s, ok = plainString(s); !ok {
		return r, false
	}
	if s, ok = bytes.CutPrefix(s, []byte(`,"host":"`)); !ok {
		return r, false
	}
	if _, s, ok = plainString(s); !ok {
		return r, false
	}
	if s, ok = bytes.CutPrefix(s, []byte(`,"stream":"`)); !ok {
		return r, false
	}
	if r.Stream, s, ok = plainString(s); !ok {
		return r, false
	}
	if rest, isFile := bytes.CutPrefix(s, []byte(`,"file":"`)); isFile {
		if _, s, ok = plainString(rest); !ok {
			return r, false
		}
	}
	if s, ok = bytes.CutPrefix(s, []byte(`,"text":"`)); !ok {
		return r, false
	}
	if r.Text, s, ok = plainString(s); !ok {
		return r, false
	}
	switch {
	case bytes.HasPrefix(s, []byte(`,"nl":true`)):
		s = s[len(`,"nl":true`):]
	case bytes.HasPrefix(s, []byte(`,"nl":false`)):
		s = s[len(`,"nl":false`):]
		r.Partial = true
	default:
		return r, false
	}
	s = bytes.TrimPrefix(s, []byte(`,"alert":true`))
	return r, len(s) == 1 && s[0] == '}'
}

// linesParser parses lines events (gaffer.JSONEncoder.AppendLines) for
// readSSE, keeping its slice of texts from one event to the next.
type linesParser struct {
	texts [][]byte
}

// parse calls fn for each record of a lines event's data. The shape the
// server writes, with strings that need no decoding, is read in one pass
// as parseRecordFast reads a record (and checked whole before the first
// record goes to fn); anything else goes through gaffer.DecodeLines.
func (p *linesParser) parse(data []byte, fn func(record) error) error {
	var r record
	var nl bool
	ok := false
	p.texts, r, nl, ok = parseLinesFast(p.texts[:0], data)
	if !ok {
		recs, err := gaffer.DecodeLines(nil, data)
		if err != nil {
			return err
		}
		for i := range recs {
			rec := &recs[i]
			err := fn(record{Seq: rec.Seq, TS: rec.TS.AppendFormat(nil, time.RFC3339Nano), Stream: []byte(rec.Stream),
				Text: rec.Data, Partial: !rec.NL})
			if err != nil {
				return err
			}
		}
		return nil
	}
	first := r.Seq
	for i, text := range p.texts {
		r.Seq, r.Text = first+int64(i), text
		r.Partial = i == len(p.texts)-1 && !nl
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// parseLinesFast reads a lines object of exactly the shape the server
// writes, its texts appended to texts (aliasing data); ok false otherwise.
func parseLinesFast(texts [][]byte, data []byte) (_ [][]byte, r record, nl, ok bool) {
	s, ok := bytes.CutPrefix(data, []byte(`{"seq":`))
	if !ok {
		return texts, r, false, false
	}
	i := 0
	for i < len(s) && i < 18 && '0' <= s[i] && s[i] <= '9' {
		r.Seq = r.Seq*10 + int64(s[i]-'0')
		i++
	}
	if i == 0 || (s[0] == '0' && i > 1) {
		return texts, r, false, false
	}
	if s, ok = bytes.CutPrefix(s[i:], []byte(`,"ts":"`)); !ok {
		return texts, r, false, false
	}
	if r.TS, s, ok = plainString(s); !ok || r.Seq < 1 {
		return texts, r, false, false
	}
	if _, err := time.Parse(time.RFC3339Nano, string(r.TS)); err != nil {
		return texts, r, false, false // one parse per event, as DecodeLines checks it
	}
	if s, ok = bytes.CutPrefix(s, []byte(`,"host":"`)); !ok {
		return texts, r, false, false
	}
	if _, s, ok = plainString(s); !ok {
		return texts, r, false, false
	}
	if s, ok = bytes.CutPrefix(s, []byte(`,"stream":"`)); !ok {
		return texts, r, false, false
	}
	if r.Stream, s, ok = plainString(s); !ok {
		return texts, r, false, false
	}
	if rest, isFile := bytes.CutPrefix(s, []byte(`,"file":"`)); isFile {
		if _, s, ok = plainString(rest); !ok {
			return texts, r, false, false
		}
	}
	if s, ok = bytes.CutPrefix(s, []byte(`,"lines":["`)); !ok {
		return texts, r, false, false
	}
	for {
		var text []byte
		if text, s, ok = plainString(s); !ok {
			return texts, r, false, false
		}
		texts = append(texts, text)
		if len(s) > 1 && s[0] == ',' && s[1] == '"' {
			s = s[2:]
			continue
		}
		break
	}
	switch {
	case bytes.HasPrefix(s, []byte(`],"nl":true`)):
		s, nl = s[len(`],"nl":true`):], true
	case bytes.HasPrefix(s, []byte(`],"nl":false`)):
		s = s[len(`],"nl":false`):]
	default:
		return texts, r, false, false
	}
	s = bytes.TrimPrefix(s, []byte(`,"alert":true`))
	return texts, r, nl, len(s) == 1 && s[0] == '}'
}

// Word-at-a-time constants for plainString.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialBytes marks, with its high bit, the first byte of the 8 of w (in
// memory order) that is a quote, a backslash, a control byte (< 0x20) or not
// ASCII, and maybe bytes after it; 0 means none is. (x-ones)&^x marks the
// first zero byte of x exactly and may mark later ones (a borrow), and
// w-0x20*ones likewise the first byte below 0x20 (a borrow starts only
// there; before it a byte's high bit is set only if it is ≥ 0xa0, marked
// by w anyway).
func specialBytes(w uint64) uint64 {
	q := w ^ ('"' * ones)
	bs := w ^ ('\\' * ones)
	return (w | (w - 0x20*ones) | ((q - ones) &^ q) | ((bs - ones) &^ bs)) & highs
}

// plainString reads the inside of a JSON string from s (just past its
// opening quote), 8 bytes at a time, and returns it and what follows its
// closing quote. ok is false if the string needs decoding (an escape),
// encoding/json would not take it as is (a control byte, invalid UTF-8), or
// it does not end.
func plainString(s []byte) (str, rest []byte, ok bool) {
	i := 0
	for {
		if i+8 <= len(s) {
			m := specialBytes(binary.LittleEndian.Uint64(s[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else if i >= len(s) {
			return nil, nil, false
		}
		switch c := s[i]; {
		case c == '"':
			return s[:i], s[i+1:], true
		case c == '\\' || c < 0x20:
			return nil, nil, false
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n == 1 {
				return nil, nil, false
			}
			i += n
		default:
			i++
		}
	}
}

// parseRecordJSON is parseRecord's slow path: data through encoding/json.
func parseRecordJSON(data []byte) (record, error) {
	var r record
	num, ok := rawField(data, `"seq":`)
	if !ok {
		return r, fmt.Errorf("no seq in %s", data)
	}
	seq, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		return r, fmt.Errorf("seq in %s: %v", data, err)
	}
	var v struct {
		TS     *string `json:"ts"`
		Stream *string `json:"stream"`
		Text   string  `json:"text"`
		NL     *bool   `json:"nl"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return r, fmt.Errorf("record %s: %v", data, err)
	}
	r.Seq = seq
	if v.TS != nil {
		r.TS = []byte(*v.TS)
	}
	if v.Stream != nil {
		r.Stream = []byte(*v.Stream)
	}
	r.Text = []byte(v.Text)
	r.Partial = v.NL != nil && !*v.NL
	return r, nil
}

// rawField returns the bare (number) value after key.
func rawField(data []byte, key string) ([]byte, bool) {
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return nil, false
	}
	v := data[i+len(key):]
	j := bytes.IndexAny(v, ",}")
	if j < 0 {
		return nil, false
	}
	return bytes.TrimSpace(v[:j]), true
}

// sseResult is what a viewer saw.
type sseResult struct {
	Lines     int64  // line events
	EndStatus string // status in the end event, "" if none came
	End       time.Time
}

// followBuffer is the read buffer of each follow: large for the fastest
// read of one big log, smaller where thousands of viewers follow at once.
var followBuffer = 1 << 20

// follow reads GET /api/jobs/{id}/log as SSE from the start until the end
// event (or ctx is done), calling onLine for every line event with the time
// it arrived (see arrivalReader). A non-nil slow reads the connection through it,
// making a viewer that cannot keep up.
func (s *server) follow(ctx context.Context, id int64, onLine func(r record, at time.Time) error, slow *slowReader) (sseResult, error) {
	return s.followQuery(ctx, id, "", onLine, slow)
}

// followQuery is follow with query (e.g. "batch=1") in the URL.
func (s *server) followQuery(ctx context.Context, id int64, query string, onLine func(r record, at time.Time) error, slow *slowReader) (sseResult, error) {
	path := fmt.Sprintf("/api/jobs/%d/log", id)
	if query != "" {
		path += "?" + query
	}
	resp, err := s.request(ctx, "GET", path, nil, "Accept", "text/event-stream")
	if err != nil {
		return sseResult{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		return sseResult{}, fmt.Errorf("GET log: %s %s", resp.Status, data)
	}
	var body io.Reader = resp.Body
	if slow != nil {
		slow.r = resp.Body
		body = slow
	}
	return readSSE(ctx, body, onLine)
}

// arrivalReader notes when the last read from the connection returned
// bytes: the time a line arrived at the viewer, or just after (the read that
// brought its last bytes). A clock read per read, not per line: a thousand
// viewers parsing a burst of lines on the benchmark's own CPUs would
// otherwise time their own parsing queue as much as the server.
type arrivalReader struct {
	r  io.Reader
	at time.Time
}

func (a *arrivalReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.at = time.Now()
	}
	return n, err
}

// readSSE reads an SSE log stream from body until the end event, as follow
// does: every viewer in these benchmarks reads through it.
func readSSE(ctx context.Context, body io.Reader, onLine func(r record, at time.Time) error) (sseResult, error) {
	var res sseResult
	ar := &arrivalReader{r: body}
	br := bufio.NewReaderSize(ar, followBuffer)
	var event []byte
	var data []byte
	var lines linesParser
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: gather it.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if err == io.EOF {
				return res, fmt.Errorf("SSE stream closed before the end event, after %d lines", res.Lines)
			}
			return res, err
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		switch {
		case len(line) == 0:
			switch string(event) {
			case "line":
				at := ar.at
				r, err := parseRecord(data)
				if err != nil {
					return res, err
				}
				res.Lines++
				if onLine != nil {
					if err := onLine(r, at); err != nil {
						return res, err
					}
				}
			case "lines":
				at := ar.at
				err := lines.parse(data, func(r record) error {
					res.Lines++
					if onLine != nil {
						return onLine(r, at)
					}
					return nil
				})
				if err != nil {
					return res, err
				}
			case "end":
				res.End = time.Now()
				var v struct {
					Status string `json:"status"`
				}
				json.Unmarshal(data, &v)
				res.EndStatus = v.Status
				return res, nil
			}
			event, data = event[:0], data[:0]
		case bytes.HasPrefix(line, []byte("event:")):
			event = append(event[:0], bytes.TrimSpace(line[len("event:"):])...)
		case bytes.HasPrefix(line, []byte("data:")):
			d := line[len("data:"):]
			d = bytes.TrimPrefix(d, []byte(" "))
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, d...)
		}
	}
}

// slowReader reads at most size bytes per Read and sleeps delay after each.
type slowReader struct {
	r     io.Reader
	size  int
	delay time.Duration
	n     int64 // bytes read so far (read by the owner after the fact)
	mu    sync.Mutex
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(p) > s.size {
		p = p[:s.size]
	}
	n, err := s.r.Read(p)
	s.mu.Lock()
	s.n += int64(n)
	s.mu.Unlock()
	time.Sleep(s.delay)
	return n, err
}

func (s *slowReader) bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// sshConfig is a client config for the sshtest host, as a careful user of
// x/crypto/ssh would write it: key auth and the known_hosts file (whose only
// key type is ed25519, hence HostKeyAlgorithms).
func sshConfig(b *testing.B, s *sshtest.Server) *ssh.ClientConfig {
	b.Helper()
	key, err := os.ReadFile(s.KeyFile)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	hk, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		b.Fatal(err)
	}
	return &ssh.ClientConfig{
		User:              s.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hk,
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           10 * time.Second,
	}
}

// sshRun dials the host, runs command, and hands its stdout to consume. It
// returns when the command has exited and consume has returned.
func sshRun(b *testing.B, s *sshtest.Server, command string, consume func(io.Reader) error) {
	b.Helper()
	c, err := ssh.Dial("tcp", s.Addrs[0], sshConfig(b, s))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	out, err := sess.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := sess.Start(command); err != nil {
		b.Fatal(err)
	}
	cerr := consume(out)
	if err := sess.Wait(); err != nil {
		b.Fatalf("ssh %q: %v", command, err)
	}
	if cerr != nil {
		b.Fatal(cerr)
	}
}

// countWriter counts bytes and newlines.
type countWriter struct{ bytes, lines int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.bytes += int64(len(p))
	w.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// opensshArgs are the ssh(1) arguments that reach the sshtest host with its
// key and known_hosts file only, ignoring the user's configuration.
func opensshArgs(s *sshtest.Server, command string) []string {
	host, _, _ := net.SplitHostPort(s.Addrs[0])
	return []string{"-F", "/dev/null", "-i", s.KeyFile,
		"-o", "UserKnownHostsFile=" + s.KnownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-p", strconv.Itoa(s.Port), s.User + "@" + host, command}
}

// procStatus reads a field in kB (VmRSS, VmHWM) of /proc/PID/status.
func procStatus(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// dirSize is the bytes allocated on disk under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// percentiles returns p50, p99 and max of ds (sorted in place).
func percentiles(ds []time.Duration) (p50, p99, mx time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	at := func(p float64) time.Duration {
		i := int(p*float64(len(ds))+0.5) - 1
		return ds[min(max(i, 0), len(ds)-1)]
	}
	return at(0.50), at(0.99), ds[len(ds)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// procCPU is the user+system CPU time a process has used so far.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	// Fields 14 and 15 of stat (utime, stime), counted from after the name.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// selfCPU is the user+system CPU time of this test process so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// metrics scrapes /metrics into name → value for series without labels.
func (s *server) metrics() map[string]float64 {
	resp, err := s.request(context.Background(), "GET", "/metrics", nil)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || strings.HasPrefix(f[0], "#") || strings.Contains(f[0], "{") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			m[f[0]] = v
		}
	}
	return m
}
