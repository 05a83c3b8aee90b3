package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
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
	release := claimInterrupt()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt)
	done := make(chan struct{})
	go func() {
		defer release()
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

func runJob(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	c := addClientFlags(fs)
	hostsFlag := fs.String("H", "", "hosts, comma-separated")
	selector := fs.String("l", "", "labels the hosts must have, e.g. role=web,env=prod")
	timeout := fs.Duration("timeout", 0, "stop the job after this long (e.g. 10m)")
	pty := fs.Bool("pty", false, "run in a pseudo-terminal (line-by-line output; stdout and stderr merged)")
	concurrency := fs.Int("concurrency", 0, "how many hosts at once (default: the server's)")
	secrets := map[string]string{}
	fs.Func("secret", "`NAME`s (comma-separated, repeatable) of this shell's environment variables given to the command as secrets: same name, masked as *** in the output", func(v string) error {
		return secretsFromEnv(secrets, v)
	})
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
	req := gaffer.JobRequest{Command: command, Hosts: splitHosts(*hostsFlag), Selector: *selector, Timeout: gaffer.Duration(*timeout),
		PTY: *pty, Concurrency: *concurrency, Secrets: secrets}
	last, status, err := startAndWatch(ctx, c, req, "job", stdout, stderr)
	if err != nil {
		return err
	}
	return jobExit(stderr, last, status)
}

// splitHosts reads -H: names, comma-separated.
func splitHosts(s string) []string {
	var hosts []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// startAndWatch starts a job (what: "job", "follow job") and prints its log
// live until it ends, Ctrl-C asking whether to cancel it or detach. It
// returns the job as it ended and its final status; exitError{130} when
// detached.
func startAndWatch(ctx context.Context, c *client, req gaffer.JobRequest, what string, stdout, stderr io.Writer) (*gaffer.Job, gaffer.Status, error) {
	var job gaffer.Job
	h, err := c.doHeader(ctx, "POST", "/api/jobs", req, &job)
	if err != nil {
		return nil, "", err
	}
	fmt.Fprintf(stderr, "gaffer: %s %d on %d host(s): %s\n", what, job.ID, len(job.Runs), c.pageURL(h, job.ID))

	p := newPrinter(stdout, stderr)
	p.job(&job)
	fctx, detach := context.WithCancel(ctx)
	defer detach()
	stopAsk := askOnInterrupt(fctx, c, job.ID, stderr, detach)
	defer stopAsk()
	var last *gaffer.Job
	status, err := c.follow(fctx, job.ID, 0, nil, followHandler{
		logHandler: logHandler{
			record: func(r *logRecord, _ []byte) error { p.record(r); return nil },
			gap:    func(g gapNotice, _ []byte) error { p.notice(g.Message); return nil },
		},
		status: func(j *gaffer.Job) { last = j; p.job(j) },
		idle: func() {
			refreshFollowState(fctx, c, &job, p)
			p.flush()
		},
	})
	p.finish()
	if err != nil {
		if fctx.Err() != nil {
			fmt.Fprintf(stderr, "gaffer: detached; job %d goes on (gaffer logs -f %d to follow it, gaffer cancel %d to stop it)\n", job.ID, job.ID, job.ID)
			return nil, "", exitError{130}
		}
		return nil, "", err
	}
	if last == nil || last.Status != status {
		if err := c.do(context.Background(), "GET", fmt.Sprintf("/api/jobs/%d", job.ID), nil, &job); err == nil {
			last = &job
		}
	}
	return last, status, nil
}

// followRefresh is how often a follow job's progress line is refreshed
// from the job: its hosts' and files' states change without the status
// events the log stream sends (those come with Gaffer's own lines).
const followRefresh = 2 * time.Second

// refreshFollowState reads a follow job's state into the progress line, at
// most every followRefresh, when there is a progress line (a terminal).
func refreshFollowState(ctx context.Context, c *client, job *gaffer.Job, p *printer) {
	if len(job.Follow) == 0 || !p.progress || time.Since(p.refreshed) < followRefresh {
		return
	}
	p.refreshed = time.Now()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var j gaffer.Job
	if c.do(rctx, "GET", fmt.Sprintf("/api/jobs/%d", job.ID), nil, &j) == nil {
		p.job(&j)
	}
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
	if len(args) > 0 {
		switch args[0] {
		case "keys":
			return hostKeys(ctx, args[1:], stdout, stderr)
		case "approve":
			return approveHostKey(ctx, args[1:], stdout, stderr)
		}
	}
	fs := newFlagSet("hosts", stderr)
	c := addClientFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gaffer hosts                 list the inventory\n       gaffer hosts keys [--host NAME]  list host keys offered (pending) and approved\n       gaffer hosts approve NAME [--fingerprint SHA256:…] [--replace]")
		fs.PrintDefaults()
	}
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
