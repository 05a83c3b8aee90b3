package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sse"
)

// client talks to a gaffer server's API.
type client struct {
	server string
	token  string
	caFile string // PEM certificates to trust beyond the system's
	http   *http.Client
}

func addClientFlags(fs *flag.FlagSet) *client {
	c := &client{http: &http.Client{}}
	fs.StringVar(&c.server, "server", "", "server URL (default http://127.0.0.1:8080)")
	fs.StringVar(&c.token, "token", "", "API token (the admin token printed by gaffer serve)")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM certificate(s) to trust for an https --server, beyond the system's: e.g. the one gaffer serve --tls-self-signed made")
	return c
}

// configPath is the client's config file: "server = URL" and "token = T"
// lines; flags and environment variables win over it.
func configPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "gaffer", "config")
}

// readConfig reads key = value lines, ignoring blank lines and # comments.
func readConfig(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	cfg := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s line %d: want \"key = value\", got %q", path, i+1, line)
		}
		cfg[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return cfg, nil
}

func (c *client) check() error {
	if c.server == "" || c.token == "" {
		path := configPath()
		cfg, err := readConfig(path)
		if err != nil {
			return fmt.Errorf("read client config: %w", err)
		}
		if c.server == "" {
			c.server = cfg["server"]
		}
		if c.token == "" {
			c.token = cfg["token"]
		}
	}
	if c.server == "" {
		c.server = "http://127.0.0.1:8080"
	}
	u, err := url.Parse(c.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--server %q is not a URL like http://127.0.0.1:8080", c.server)
	}
	if c.token == "" {
		return fmt.Errorf("no token: pass --token, set GAFFER_TOKEN, or put \"token = ...\" in %s (gaffer serve prints it on first start)", configPath())
	}
	c.server = strings.TrimRight(c.server, "/")
	if c.caFile != "" {
		tr, err := trustingTransport(expandHome(c.caFile))
		if err != nil {
			return err
		}
		c.http.Transport = tr
	}
	return nil
}

// trustingTransport is the default transport (HTTP/2 included) trusting the
// certificates of caFile as well as the system's.
func trustingTransport(caFile string) (*http.Transport, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return tr, nil
}

// apiError is the API's error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (c *client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// do sends a request and decodes a JSON answer into out.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.doHeader(ctx, method, path, body, out)
	return err
}

// doHeader is do that also returns the answer's header.
func (c *client) doHeader(ctx context.Context, method, path string, body, out any) (http.Header, error) {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the gaffer server at %s: %w", c.server, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, responseError(resp)
	}
	if out == nil {
		return resp.Header, nil
	}
	return resp.Header, json.NewDecoder(resp.Body).Decode(out)
}

// pageURL is the address of job id's page to print: the server's Link
// header when it is absolute (made with the server's --public-url, the
// address people open), else on the address this client reached it at.
func (c *client) pageURL(h http.Header, id int64) string {
	link := h.Get("Link")
	if end := strings.IndexByte(link, '>'); strings.HasPrefix(link, "<") && end > 0 {
		if u, err := url.Parse(link[1:end]); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
			return u.String()
		}
	}
	return fmt.Sprintf("%s/jobs/%d", c.server, id)
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func responseError(resp *http.Response) error {
	var e apiError
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return errors.New(e.Error.Message)
	}
	return fmt.Errorf("the server answered %s", resp.Status)
}

// followHandler receives a followed log: records and gaps as logHandler
// (a gap's line in its NDJSON form), status changes, and idle before the
// client waits for the network (to flush what it printed).
type followHandler struct {
	logHandler
	status func(*gaffer.Job)
	idle   func()
	// json: record uses each record's JSON (its line argument), which a
	// record of a lines event has only when asked for (nil otherwise).
	json bool
}

// follow streams a job's log from seq after+1 until its end event,
// reconnecting with Last-Event-ID after a dropped connection so nothing is
// lost or repeated. query holds filters (host, stream). It returns the
// job's final status.
func (c *client) follow(ctx context.Context, id int64, after int64, query url.Values, h followHandler) (gaffer.Status, error) {
	failures := 0
	for {
		status, last, err := c.followOnce(ctx, id, after, query, h)
		if status != "" {
			return status, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return "", fatal.err
		}
		if last > after {
			after, failures = last, 0
		}
		failures++
		if failures > 30 {
			return "", fmt.Errorf("lost the log stream of job %d: %w", id, err)
		}
		select {
		case <-time.After(time.Duration(min(failures, 5)) * time.Second):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

// idleReader calls idle before each read: whatever was decoded from the
// previous ones has been handled by then.
type idleReader struct {
	r    io.Reader
	idle func()
}

func (r idleReader) Read(b []byte) (int, error) {
	if r.idle != nil {
		r.idle()
	}
	return r.r.Read(b)
}

func (c *client) followOnce(ctx context.Context, id int64, after int64, query url.Values, h followHandler) (gaffer.Status, int64, error) {
	// Lines events: a run of records in one event, a tenth of the bytes of
	// a line event each for short lines (a server that does not know
	// batch=1 sends line events, read below as well).
	q := url.Values{"batch": {"1"}}
	for k, v := range query {
		q[k] = v
	}
	path := fmt.Sprintf("/api/jobs/%d/log?%s", id, q.Encode())
	req, err := c.newRequest(ctx, "GET", path, nil)
	if err != nil {
		return "", after, &fatalError{err}
	}
	req.Header.Set("Accept", "text/event-stream")
	if after > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(after, 10))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", after, unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := responseError(resp)
		if resp.StatusCode < 500 {
			return "", after, &fatalError{err}
		}
		return "", after, err
	}
	var status gaffer.Status
	var d recordDecoder
	var herr error
	err = sse.Read(idleReader{resp.Body, h.idle}, func(ev sse.Event) bool {
		switch ev.Type {
		case "line":
			rec, err := d.decodeRecord(ev.Data)
			if err != nil || rec.Seq <= after {
				return true
			}
			after = rec.Seq
			if h.record != nil {
				herr = h.record(rec, ev.Data)
			}
		case "lines":
			recs, err := d.decodeLines(ev.Data)
			if err != nil {
				return true
			}
			for i := range recs {
				if recs[i].Seq <= after {
					continue
				}
				after = recs[i].Seq
				if h.record != nil {
					var line []byte
					if h.json {
						line = d.recordJSON(&recs[i])
					}
					if herr = h.record(&recs[i], line); herr != nil {
						break
					}
				}
			}
		case "gap":
			var g gapNotice
			if err := json.Unmarshal(ev.Data, &g); err == nil && g.To > after {
				after = g.To
				if h.gap != nil {
					herr = h.gap(g, g.ndjson())
				}
			}
		case "status":
			var job gaffer.Job
			if h.status != nil && json.Unmarshal(ev.Data, &job) == nil {
				h.status(&job)
			}
		case "end":
			var end struct {
				Status gaffer.Status `json:"status"`
			}
			json.Unmarshal(ev.Data, &end)
			status = end.Status
			return false
		}
		return herr == nil
	})
	if herr != nil {
		return "", after, &fatalError{herr}
	}
	if status != "" {
		return status, after, nil
	}
	if err != nil {
		return "", after, err
	}
	return "", after, io.ErrUnexpectedEOF
}

// gapNotice tells of records the server lost: the SSE gap event's data;
// an NDJSON log has it as {"gap": {"from", "to"}, "message"}.
type gapNotice struct {
	From, To int64
	Message  string
}

// ndjson is the notice as an NDJSON log line holds it.
func (g gapNotice) ndjson() []byte {
	b, _ := json.Marshal(map[string]any{"gap": map[string]int64{"from": g.From, "to": g.To}, "message": g.Message})
	return b
}
