package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/gaffer-dev/gaffer"
)

// askOnInterrupt handles Ctrl-C while a job is followed: on a terminal it
// asks whether to cancel the job or detach; otherwise it detaches. A second
// Ctrl-C always detaches.
func askOnInterrupt(ctx context.Context, c *client, id int64, stderr io.Writer, detach func()) (stop func()) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt)
	done := make(chan struct{})
	go func() {
		defer signal.Stop(sig)
		select {
		case <-sig:
		case <-done:
			return
		case <-ctx.Done():
			return
		}
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			detach()
			return
		}
		fmt.Fprintf(stderr, "\ngaffer: cancel job %d on every host, or detach and leave it running? [c/D] ", id)
		answer := make(chan string, 1)
		go func() {
			var s string
			fmt.Fscanln(os.Stdin, &s)
			answer <- s
		}()
		select {
		case a := <-answer:
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(a)), "c") {
				if err := c.do(context.Background(), "POST", fmt.Sprintf("/api/jobs/%d/cancel", id), nil, nil); err != nil {
					fmt.Fprintf(stderr, "gaffer: cancel failed: %v\n", err)
				} else {
					fmt.Fprintf(stderr, "gaffer: canceling job %d; following it to the end (Ctrl-C again to detach)\n", id)
				}
				select {
				case <-sig:
					detach()
				case <-done:
				case <-ctx.Done():
				}
				return
			}
			detach()
		case <-sig:
			detach()
		case <-done:
		}
	}()
	return func() { close(done) }
}

// printer writes records as "host | text", stdout records to out and the
// others to errOut, continuing lines that arrived in parts. On a terminal it
// colours host prefixes, keeps the output's own colours and shows a progress
// line; elsewhere it strips escape sequences.
type printer struct {
	out, errOut io.Writer
	color       bool // out is a terminal
	progress    bool // errOut is a terminal: keep a progress line at the bottom
	width       int  // host column width
	status      string
	shown       bool   // the progress line is on screen
	open        string // host+stream of a line still waiting for its "\n"
	openW       io.Writer
}

func newPrinter(out, errOut io.Writer) *printer {
	return &printer{out: out, errOut: errOut, color: isTerminal(out), progress: isTerminal(errOut)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

var (
	// sgr is a colour/style sequence, kept on a terminal.
	sgr = regexp.MustCompile(`^\x1b\[[0-9;:]*m`)
	// escapes are every other terminal control sequence (cursor movement,
	// OSC titles and clipboard, …): never passed on.
	escapes = regexp.MustCompile(`\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]`)
)

// clean keeps colours on a terminal and drops every other control sequence.
func (p *printer) clean(s string) string {
	if !strings.ContainsAny(s, "\x1b\x00\x07\x08\x7f") && !hasControl(s) {
		return s
	}
	return escapes.ReplaceAllStringFunc(s, func(m string) string {
		if p.color && sgr.MatchString(m) {
			return m
		}
		return ""
	})
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\r' && c != '\n' {
			return true
		}
	}
	return false
}

var hostColors = []string{"36", "33", "35", "32", "34", "96", "93", "95", "92", "94"}

func (p *printer) prefix(r gaffer.Record) string {
	sep := " | "
	if r.Stream == gaffer.System {
		sep = " * "
	} else if r.Stream == gaffer.Stderr {
		sep = " ! "
	}
	name := r.Host
	if pad := p.width - len(name); pad > 0 {
		name += strings.Repeat(" ", pad)
	}
	if !p.color {
		return name + sep
	}
	h := fnv.New32a()
	h.Write([]byte(r.Host))
	return "\x1b[" + hostColors[h.Sum32()%uint32(len(hostColors))] + "m" + name + "\x1b[0m" + sep
}

func (p *printer) clearProgress() {
	if p.shown {
		io.WriteString(p.errOut, "\r\x1b[K")
		p.shown = false
	}
}

func (p *printer) drawProgress() {
	if p.progress && p.status != "" && p.open == "" {
		io.WriteString(p.errOut, "\r\x1b[K"+p.status)
		p.shown = true
	}
}

func (p *printer) record(r gaffer.Record) {
	p.clearProgress()
	w := p.out
	if r.Stream != gaffer.Stdout {
		w = p.errOut
	}
	key := r.Host + "\x00" + string(r.Stream)
	if p.open != "" && p.open != key {
		fmt.Fprintln(p.openW)
		p.open = ""
	}
	if p.open == "" {
		io.WriteString(w, p.prefix(r))
	}
	io.WriteString(w, p.clean(r.Text()))
	if r.NL {
		io.WriteString(w, "\n")
		p.open = ""
	} else {
		p.open, p.openW = key, w
	}
	p.drawProgress()
}

// notice writes a message of the server's, such as a notice of records
// it lost, between the log's lines.
func (p *printer) notice(msg string) {
	p.clearProgress()
	if p.open != "" {
		fmt.Fprintln(p.openW)
		p.open = ""
	}
	fmt.Fprintf(p.errOut, "gaffer: %s\n", p.clean(msg))
	p.drawProgress()
}

// job updates the progress line from a job's status.
func (p *printer) job(j *gaffer.Job) {
	done, failed := 0, 0
	for _, r := range j.Runs {
		if len(r.Host) > p.width {
			p.width = len(r.Host)
		}
		if r.Status.Done() {
			done++
			if r.Status != gaffer.StatusSucceeded {
				failed++
			}
		}
	}
	p.status = fmt.Sprintf("%d/%d done", done, len(j.Runs))
	if failed > 0 {
		p.status += fmt.Sprintf(", %d failed", failed)
	}
	p.clearProgress()
	p.drawProgress()
}

func (p *printer) finish() {
	p.clearProgress()
	if p.open != "" {
		fmt.Fprintln(p.openW)
		p.open = ""
	}
}

func runJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	c := addClientFlags(fs)
	hostsFlag := fs.String("H", "", "hosts, comma-separated")
	selector := fs.String("l", "", "labels the hosts must have, e.g. role=web,env=prod")
	timeout := fs.Duration("timeout", 0, "stop the job after this long (e.g. 10m)")
	pty := fs.Bool("pty", false, "run in a pseudo-terminal (line-by-line output; stdout and stderr merged)")
	concurrency := fs.Int("concurrency", 0, "how many hosts at once (default: the server's)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gaffer run [-H host,host] [-l label=value] [--timeout 10m] [--pty] -- COMMAND...")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	command := strings.Join(fs.Args(), " ")
	if strings.TrimSpace(command) == "" {
		fs.Usage()
		return exitError{2}
	}
	req := gaffer.JobRequest{Command: command, Selector: *selector, Timeout: gaffer.Duration(*timeout), PTY: *pty, Concurrency: *concurrency}
	for _, h := range strings.Split(*hostsFlag, ",") {
		if h = strings.TrimSpace(h); h != "" {
			req.Hosts = append(req.Hosts, h)
		}
	}
	var job gaffer.Job
	if err := c.do(ctx, "POST", "/api/jobs", req, &job); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "gaffer: job %d on %d host(s): %s/jobs/%d\n", job.ID, len(job.Runs), c.server, job.ID)

	p := newPrinter(stdout, stderr)
	p.job(&job)
	fctx, detach := context.WithCancel(ctx)
	defer detach()
	stopAsk := askOnInterrupt(fctx, c, job.ID, stderr, detach)
	defer stopAsk()
	var last *gaffer.Job
	status, err := c.follow(fctx, job.ID, 0, p.record, func(j *gaffer.Job) { last = j; p.job(j) }, p.notice)
	p.finish()
	if err != nil {
		if fctx.Err() != nil {
			fmt.Fprintf(stderr, "gaffer: detached; job %d goes on (gaffer logs -f %d to follow it, gaffer cancel %d to stop it)\n", job.ID, job.ID, job.ID)
			return exitError{130}
		}
		return err
	}
	if last == nil || last.Status != status {
		if err := c.do(context.Background(), "GET", fmt.Sprintf("/api/jobs/%d", job.ID), nil, &job); err == nil {
			last = &job
		}
	}
	return jobExit(stderr, last, status)
}

// jobExit summarises failed runs and returns the job's exit code: 0 only if
// every run succeeded; a shared non-zero exit code is passed on; else 1.
func jobExit(stderr io.Writer, job *gaffer.Job, status gaffer.Status) error {
	if status == gaffer.StatusSucceeded {
		return nil
	}
	code := -1
	if job != nil {
		for _, r := range job.Runs {
			if r.Status == gaffer.StatusSucceeded {
				continue
			}
			why := r.Error
			if r.ExitCode != nil {
				why = strings.TrimSpace(fmt.Sprintf("exit status %d %s", *r.ExitCode, r.Error))
			}
			fmt.Fprintf(stderr, "gaffer: %s %s: %s\n", r.Host, r.Status, why)
			switch {
			case r.ExitCode == nil || *r.ExitCode == 0:
				code = 1
			case code == -1:
				code = *r.ExitCode
			case code != *r.ExitCode:
				code = 1
			}
		}
	}
	if code <= 0 {
		code = 1
	}
	fmt.Fprintf(stderr, "gaffer: job %s\n", status)
	return exitError{code}
}

func parseJobID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a job id (a positive whole number)", s)
	}
	return id, nil
}

func logs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("logs", stderr)
	c := addClientFlags(fs)
	followFlag := fs.Bool("f", false, "follow the log live until the job ends")
	after := fs.Int64("after", 0, "start after this sequence number")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: gaffer logs [-f] [--after SEQ] JOB")
	}
	id, err := parseJobID(fs.Arg(0))
	if err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	p := newPrinter(stdout, stderr)
	defer p.finish()
	if *followFlag {
		_, err := c.follow(ctx, id, *after, p.record, nil, p.notice)
		return err
	}
	req, err := c.newRequest(ctx, "GET", fmt.Sprintf("/api/jobs/%d/log?after=%d", id, *after), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the gaffer server at %s: %w", c.server, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return responseError(resp)
	}
	return decodeNDJSON(resp.Body, p.record, p.notice)
}

func jobs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("jobs", stderr)
	c := addClientFlags(fs)
	status := fs.String("status", "", "only jobs with this status")
	host := fs.String("host", "", "only jobs that ran on this host")
	limit := fs.Int("limit", 20, "how many")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	q := fmt.Sprintf("/api/jobs?limit=%d", *limit)
	if *status != "" {
		q += "&status=" + *status
	}
	if *host != "" {
		q += "&host=" + *host
	}
	var list []gaffer.Job
	if err := c.do(ctx, "GET", q, nil, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tHOSTS\tSTARTED\tDURATION\tCOMMAND")
	for _, j := range list {
		started, dur := "", ""
		if j.StartedAt != nil {
			started = j.StartedAt.Local().Format("2006-01-02 15:04:05")
			end := time.Now()
			if j.FinishedAt != nil {
				end = *j.FinishedAt
			}
			dur = end.Sub(*j.StartedAt).Round(100 * time.Millisecond).String()
		}
		cmd := strings.ReplaceAll(j.Command, "\n", " ")
		if len(cmd) > 60 {
			cmd = cmd[:57] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", j.ID, j.Status, len(j.Runs), started, dur, cmd)
	}
	return tw.Flush()
}

func cancel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cancel", stderr)
	c := addClientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: gaffer cancel JOB")
	}
	id, err := parseJobID(fs.Arg(0))
	if err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	if err := c.do(ctx, "POST", fmt.Sprintf("/api/jobs/%d/cancel", id), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "job %d: cancel requested\n", id)
	return nil
}

func hosts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hosts", stderr)
	c := addClientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	var list []gaffer.Host
	if err := c.do(ctx, "GET", "/api/hosts", nil, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tUSER\tLABELS")
	for _, h := range list {
		addr := fmt.Sprintf("%s:%d", h.Address, h.Port)
		if h.Local {
			addr = "(this server)"
		}
		var labels []string
		for k, v := range h.Labels {
			labels = append(labels, k+"="+v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.Name, addr, h.User, strings.Join(labels, ","))
	}
	return tw.Flush()
}
