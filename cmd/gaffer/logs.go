package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// logsOptions is a checked `gaffer logs` command line.
type logsOptions struct {
	id         int64
	follow     bool
	after      int64
	tail       int
	since      string // RFC 3339
	timestamps bool
	grep       gaffer.SearchQuery // Pattern "" when not searching
	match      *regexp.Regexp     // grep's, for the records followed live
	filter     gaffer.LogFilter
	output     string // text, json or raw
}

const logsUsage = `usage: gaffer logs [flags] JOB

Prints a job's log: each line with its host ("host | text", "host file |
text" for a follow job's; "!" marks stderr, "*" Gaffer's own lines; stdout
records go to stdout, the others to stderr). With -f it follows the log
live and exits with the job's exit code (a follow job's as gaffer follow's).

Flags:
`

func logsFlags(stderr io.Writer) (*flag.FlagSet, *client, func(now time.Time) (*logsOptions, error)) {
	fs := newFlagSet("logs", stderr)
	c := addClientFlags(fs)
	follow := fs.Bool("f", false, "follow the log live until the job ends; exit with the job's exit code")
	after := fs.Int64("after", 0, "start after this sequence number")
	tail := fs.Int("tail", 0, "only the last `N` records (after --host and --stream)")
	since := fs.String("since", "", "start at the first record at or after this `time`: a duration back from now (10m, 1h30m) or an RFC 3339 time")
	timestamps := fs.Bool("timestamps", false, "start each line with its record's time (UTC)")
	grep := fs.String("grep", "", "only the records whose text contains `PATTERN` (searched on the server; not case-sensitive)")
	regex := fs.Bool("regex", false, "--grep's PATTERN is a regular expression (RE2 syntax)")
	caseSensitive := fs.Bool("case", false, "--grep is case-sensitive")
	host := fs.String("host", "", "only this host's records")
	stream := fs.String("stream", "", "only this stream: stdout, stderr or system")
	file := fs.String("file", "", "only the lines of this `FILE` (a follow job's; the path as its lines show it)")
	output := fs.String("o", "text", "output: text (host | line), json (the records as NDJSON, as the server sends them) or raw (the exact bytes one host wrote to one stream)")
	fs.Usage = func() {
		fmt.Fprint(stderr, logsUsage)
		fs.PrintDefaults()
	}
	check := func(now time.Time) (*logsOptions, error) {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		o := &logsOptions{follow: *follow, after: *after, tail: *tail, timestamps: *timestamps, output: *output,
			filter: gaffer.LogFilter{Host: *host, Stream: gaffer.Stream(*stream), File: *file}}
		if fs.NArg() != 1 {
			return nil, usagef("logs takes one job id, got %d arguments (gaffer logs -h for help)", fs.NArg())
		}
		id, err := parseJobID(fs.Arg(0))
		if err != nil {
			return nil, usageError{err.Error()}
		}
		o.id = id
		switch {
		case *after < 0:
			return nil, usagef("--after %d: give a sequence number, 0 or more", *after)
		case given["tail"] && *tail < 1:
			return nil, usagef("--tail %d: give a number of records, 1 or more", *tail)
		}
		switch o.filter.Stream {
		case "", gaffer.Stdout, gaffer.Stderr, gaffer.System:
		default:
			return nil, usagef("--stream %q: give stdout, stderr or system", *stream)
		}
		switch o.output {
		case "text", "json", "raw":
		default:
			return nil, usagef("-o %q: give text, json or raw", o.output)
		}
		if *since != "" {
			if o.since, err = parseSince(*since, now); err != nil {
				return nil, err
			}
		}
		if given["grep"] || *grep != "" {
			o.grep = gaffer.SearchQuery{Pattern: *grep, Regex: *regex, Case: *caseSensitive, Filter: o.filter}
			if o.match, err = o.grep.Compile(); err != nil {
				// The message names the server's parameter, q.
				msg := strings.TrimPrefix(gaffer.ErrorMessage(err), "q ")
				return nil, usagef("--grep %q: %s", *grep, msg)
			}
		} else if *regex || *caseSensitive {
			return nil, usagef("--regex and --case go with --grep PATTERN")
		}
		// Flags that cannot go together, named.
		pairs := []struct {
			a, b string
			why  string
		}{
			{"tail", "after", "--tail reads back from the end"},
			{"tail", "since", "--tail reads back from the end"},
			{"since", "after", "both say where to start"},
			{"tail", "grep", "--grep searches forward: use --since or --after to start later"},
		}
		for _, p := range pairs {
			if given[p.a] && given[p.b] {
				return nil, usagef("--%s and --%s cannot be used together: %s", p.a, p.b, p.why)
			}
		}
		if o.output != "text" && o.timestamps {
			return nil, usagef("--timestamps goes with -o text (-o %s has the times in it or none)", o.output)
		}
		if o.output == "raw" {
			for _, f := range []string{"f", "grep"} {
				if given[f] {
					return nil, usagef("-o raw prints the exact bytes of one stream as it is now: it does not go with %s (use -o text or -o json)", flagName(f))
				}
			}
		}
		return o, nil
	}
	return fs, c, check
}

// flagName is a flag as people type it: -f, --tail.
func flagName(f string) string {
	if len(f) == 1 {
		return "-" + f
	}
	return "--" + f
}

// parseSince reads --since: a duration back from now, or an RFC 3339 time.
func parseSince(s string, now time.Time) (string, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return "", usagef("--since %s: give a duration back from now, such as 10m (no minus sign)", s)
		}
		return now.Add(-d).UTC().Format(time.RFC3339Nano), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", usagef("--since %q: give a duration such as 10m or 1h30m, or a time such as 2026-11-25T22:01:02Z", s)
	}
	return t.UTC().Format(time.RFC3339Nano), nil
}

// parseInterspersed parses flags that may come after the job id too
// (gaffer logs 42 -f), as people type them.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return flagError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	// Leave the positional arguments in fs.Args().
	fs.Parse(append([]string{"--"}, pos...))
	return envDefaults(fs)
}

func logs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c, check := logsFlags(stderr)
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	o, err := check(time.Now())
	if err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	var job gaffer.Job
	if err := c.do(ctx, "GET", fmt.Sprintf("/api/jobs/%d", o.id), nil, &job); err != nil {
		return err
	}
	if h := o.filter.Host; h != "" && !jobHasHost(&job, h) {
		return usagef("--host %s: job %d did not run on %s; its hosts: %s", h, job.ID, h, jobHosts(&job))
	}
	if o.output == "raw" {
		return c.rawLog(ctx, &job, o, stdout)
	}

	out := newLogOutput(o, &job, stdout, stderr)
	last, err := c.catchUp(ctx, o, out)
	if err != nil {
		out.finish()
		return err
	}
	if !o.follow {
		return out.finish()
	}
	q := filterQuery(o.filter)
	status, err := c.follow(ctx, o.id, last, q, followHandler{
		logHandler: logHandler{record: out.followed, gap: out.gap},
		idle:       out.flush,
		json:       out.json,
	})
	if ferr := out.finish(); err == nil {
		err = ferr
	}
	if err != nil {
		if ctx.Err() != nil {
			return exitError{130}
		}
		return err
	}
	if err := c.do(context.Background(), "GET", fmt.Sprintf("/api/jobs/%d", o.id), nil, &job); err != nil {
		return err
	}
	return jobEnd(stderr, &job, status)
}

func jobHasHost(job *gaffer.Job, host string) bool {
	for _, r := range job.Runs {
		if r.Host == host {
			return true
		}
	}
	return false
}

func jobHosts(job *gaffer.Job) string {
	var names []string
	for _, r := range job.Runs {
		names = append(names, r.Host)
	}
	return strings.Join(names, ", ")
}

// rawLog copies the exact bytes one host wrote to one stream: the host is
// the job's only one unless --host names it, the stream stdout unless
// --stream names it.
func (c *client) rawLog(ctx context.Context, job *gaffer.Job, o *logsOptions, stdout io.Writer) error {
	host := o.filter.Host
	if host == "" {
		if len(job.Runs) != 1 {
			return usagef("-o raw prints one host's bytes: give --host (job %d ran on %s)", job.ID, jobHosts(job))
		}
		host = job.Runs[0].Host
	}
	stream := o.filter.Stream
	if stream == "" {
		stream = gaffer.Stdout
	}
	q := logRangeQuery(o)
	q.Set("format", "raw")
	q.Set("host", host)
	q.Set("stream", string(stream))
	body, err := c.get(ctx, fmt.Sprintf("/api/jobs/%d/log?%s", job.ID, q.Encode()), "")
	if err != nil {
		return err
	}
	defer body.Close()
	if _, err := io.CopyBuffer(stdout, body, make([]byte, 256<<10)); err != nil {
		return fmt.Errorf("read raw log: %w", err)
	}
	return nil
}

// get sends a GET and returns the body of a 200 answer; any other answer
// is the error the server gave.
func (c *client) get(ctx context.Context, path, accept string) (io.ReadCloser, error) {
	req, err := c.newRequest(ctx, "GET", path, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the gaffer server at %s: %w", c.server, unwrapURLError(err))
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, responseError(resp)
	}
	return resp.Body, nil
}

// catchUp prints the log as it is now (the whole of it, its tail, from a
// time or a seq, or the matches of --grep) and returns the seq to follow
// it from.
func (c *client) catchUp(ctx context.Context, o *logsOptions, out *logOutput) (int64, error) {
	if o.grep.Pattern != "" {
		return c.searchAll(ctx, o, out)
	}
	q := logRangeQuery(o)
	path := fmt.Sprintf("/api/jobs/%d/log", o.id)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	body, err := c.get(ctx, path, "application/x-ndjson")
	if err != nil {
		return 0, err
	}
	defer body.Close()
	last := o.after
	if out.json && !o.follow {
		// Nothing to look at: the server's bytes as they are.
		_, err := io.CopyBuffer(out.w, body, make([]byte, 256<<10))
		if err != nil {
			return 0, fmt.Errorf("read log: %w", err)
		}
		return last, nil
	}
	seen := false
	err = readLogLines(body, logHandler{
		record: func(r *logRecord, line []byte) error {
			last, seen = r.Seq, true
			return out.record(r, line)
		},
		gap: func(g gapNotice, line []byte) error {
			last = max(last, g.To)
			return out.gap(g, line)
		},
	})
	if err != nil {
		return 0, err
	}
	if o.since != "" && !seen && o.follow {
		// Nothing since then: follow from the end, not from seq 1.
		return c.lastSeq(ctx, o.id)
	}
	return last, nil
}

// logRangeQuery is the query of a log read: where it starts, and the filters.
func logRangeQuery(o *logsOptions) url.Values {
	q := filterQuery(o.filter)
	if o.after > 0 {
		q.Set("after", strconv.FormatInt(o.after, 10))
	}
	if o.tail > 0 {
		q.Set("tail", strconv.Itoa(o.tail))
	}
	if o.since != "" {
		q.Set("since", o.since)
	}
	return q
}

func filterQuery(f gaffer.LogFilter) url.Values {
	q := url.Values{}
	if f.Host != "" {
		q.Set("host", f.Host)
	}
	if f.Stream != "" {
		q.Set("stream", string(f.Stream))
	}
	if f.File != "" {
		q.Set("file", f.File)
	}
	return q
}

// lastSeq is the seq of the log's last record so far.
func (c *client) lastSeq(ctx context.Context, id int64) (int64, error) {
	var s gaffer.LogSummary
	if err := c.do(ctx, "GET", fmt.Sprintf("/api/jobs/%d/log/summary", id), nil, &s); err != nil {
		return 0, err
	}
	return s.LastSeq, nil
}

// seqSince is the seq just before the first record at or after an RFC 3339
// time, or the last seq if there is none.
func (c *client) seqSince(ctx context.Context, id int64, since string) (int64, error) {
	q := url.Values{"since": {since}, "limit": {"1"}}
	body, err := c.get(ctx, fmt.Sprintf("/api/jobs/%d/log?%s", id, q.Encode()), "application/x-ndjson")
	if err != nil {
		return 0, err
	}
	defer body.Close()
	first := int64(-1)
	if err := readLogLines(body, logHandler{record: func(r *logRecord, _ []byte) error {
		if first < 0 {
			first = r.Seq
		}
		return nil
	}}); err != nil {
		return 0, err
	}
	if first < 0 {
		return c.lastSeq(ctx, id)
	}
	return first - 1, nil
}

// searchPageLimit is the matches asked for in one search request (a
// variable for tests).
var searchPageLimit = 10000

// searchAll prints every match of --grep, page after page, as the server
// finds them, and returns the seq the search reached.
func (c *client) searchAll(ctx context.Context, o *logsOptions, out *logOutput) (int64, error) {
	after := o.after
	if o.since != "" {
		var err error
		if after, err = c.seqSince(ctx, o.id, o.since); err != nil {
			return 0, err
		}
	}
	for {
		q := filterQuery(o.filter)
		q.Set("q", o.grep.Pattern)
		q.Set("after", strconv.FormatInt(after, 10))
		q.Set("limit", strconv.Itoa(searchPageLimit))
		if o.grep.Regex {
			q.Set("regex", "1")
		}
		if o.grep.Case {
			q.Set("case", "1")
		}
		body, err := c.get(ctx, fmt.Sprintf("/api/jobs/%d/log/search?%s", o.id, q.Encode()), "application/x-ndjson")
		if err != nil {
			return 0, err
		}
		var trailer *searchTrailer
		err = readLogLines(idleReader{body, func() { out.flush() }}, logHandler{
			record: out.record,
			gap:    out.gap,
			trailer: func(t searchTrailer) error {
				trailer = &t
				return nil
			},
		})
		body.Close()
		switch {
		case err != nil:
			return 0, err
		case trailer == nil:
			return 0, fmt.Errorf("the search of job %d's log ended before its last line", o.id)
		case trailer.Done:
			return max(trailer.ScannedTo, after), nil
		case trailer.ScannedTo <= after:
			return 0, fmt.Errorf("the search of job %d's log stopped at seq %d", o.id, after)
		}
		after = trailer.ScannedTo
	}
}

// logOutput prints records as text (through a printer) or as JSON lines.
type logOutput struct {
	o    *logsOptions
	json bool
	p    *printer      // text
	w    *bufio.Writer // json
}

func newLogOutput(o *logsOptions, job *gaffer.Job, stdout, stderr io.Writer) *logOutput {
	out := &logOutput{o: o, json: o.output == "json"}
	if out.json {
		out.w = bufio.NewWriterSize(stdout, 256<<10)
		return out
	}
	out.p = newPrinter(stdout, stderr)
	out.p.timestamps = o.timestamps
	for _, r := range job.Runs {
		out.p.width = max(out.p.width, len([]rune(r.Host)))
	}
	return out
}

func (out *logOutput) record(r *logRecord, line []byte) error {
	if out.json {
		out.w.Write(line)
		return out.w.WriteByte('\n')
	}
	out.p.record(r)
	return nil
}

// followed takes a record followed live: the server may not filter it, so
// the filters and --grep are applied here too, as the server would.
func (out *logOutput) followed(r *logRecord, line []byte) error {
	f := out.o.filter
	if (f.Host != "" && string(r.Host) != f.Host) || (f.Stream != "" && string(r.Stream) != string(f.Stream)) ||
		(f.File != "" && string(r.File) != f.File) {
		return nil
	}
	if out.o.match != nil && !out.o.match.Match(r.Text) {
		return nil
	}
	return out.record(r, line)
}

func (out *logOutput) gap(g gapNotice, line []byte) error {
	if out.json {
		out.w.Write(line)
		return out.w.WriteByte('\n')
	}
	out.p.notice(g.Message)
	return nil
}

func (out *logOutput) flush() {
	if out.json {
		out.w.Flush()
	} else {
		out.p.flush()
	}
}

func (out *logOutput) finish() error {
	if out.json {
		return out.w.Flush()
	}
	return out.p.finish()
}
