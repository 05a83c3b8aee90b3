package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/gaffer-dev/gaffer"
)

const followUsage = `usage: gaffer follow [-H host,host] [-l label=value] [--from start] [--retain 1GB]
                     [--alert PATTERN=URL]... [--timeout D] PATH...

Follows files on hosts, live, as a follow job of the server: every new line
is printed with its host and file ("host file | line"; "*" marks Gaffer's
own lines: a host away and back, a file rotated, truncated or missing).
PATHs are absolute paths or globs; quote globs ('/var/log/*.log') so they
are expanded on each host, again as new files appear, and not once by your
shell. Flags go before the paths.

Ctrl-C asks whether to stop the job or detach and leave it running. Exit
status: 0 once the job is stopped (canceled here, by "gaffer cancel" or on
its page) or its --timeout is reached; 130 when you detach; 1 if it failed
or its server stopped.

Flags:
`

func followCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("follow", stderr)
	c := addClientFlags(fs)
	hostsFlag := fs.String("H", "", "hosts, comma-separated")
	selector := fs.String("l", "", "labels the hosts must have, e.g. role=web,env=prod")
	from := fs.String("from", "end", "where to start in the files there now: end (new lines only) or start (whole files)")
	retain := fs.String("retain", "", "keep only the newest part of the job's log: a `SIZE` (1GB, 500MB) or an age (7d, 12h)")
	timeout := fs.Duration("timeout", 0, "stop following after this long (e.g. 8h)")
	var alerts []gaffer.AlertRule
	fs.Func("alert", "mark the lines matching `PATTERN=URL`'s pattern (RE2) and POST them to its webhook URL; a pattern alone only marks them (repeatable)", func(v string) error {
		a, err := parseAlert(v)
		alerts = append(alerts, a)
		return err
	})
	fs.Usage = func() {
		fmt.Fprint(stderr, followUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("follow needs the files to follow, e.g. gaffer follow -H web-1 '/var/log/nginx/*.log' (gaffer follow -h for help)")
	}
	req := gaffer.JobRequest{Follow: fs.Args(), From: *from, Retain: *retain, Alerts: alerts,
		Hosts: splitHosts(*hostsFlag), Selector: *selector, Timeout: gaffer.Duration(*timeout)}
	if len(req.Hosts) == 0 && strings.TrimSpace(req.Selector) == "" {
		return usagef("no hosts: give -H host,host or -l label=value")
	}
	if err := req.Validate(); err != nil {
		return usageError{gaffer.ErrorMessage(err)}
	}
	if err := c.check(); err != nil {
		return err
	}
	last, status, err := startAndWatch(ctx, c, req, "follow job", stdout, stderr)
	if err != nil {
		return err
	}
	return jobEnd(stderr, last, status)
}

// jobEnd is jobExit, but a follow job stopped (canceled) or at its timeout
// ended as asked, with 0: it never ends by itself.
func jobEnd(stderr io.Writer, job *gaffer.Job, status gaffer.Status) error {
	if job != nil && len(job.Follow) > 0 && (status == gaffer.StatusCanceled || status == gaffer.StatusTimedOut) {
		return nil
	}
	return jobExit(stderr, job, status)
}

// alertURL finds where an --alert's URL starts: "=" then a scheme and "://".
var alertURL = regexp.MustCompile(`=[A-Za-z][A-Za-z0-9+.-]*://`)

// parseAlert reads --alert PATTERN=URL. The pattern may hold "=" itself:
// the URL starts at the first "=" followed by "scheme://". Without one the
// whole value is the pattern, which only marks lines.
func parseAlert(v string) (gaffer.AlertRule, error) {
	a := gaffer.AlertRule{Pattern: v}
	if loc := alertURL.FindStringIndex(v); loc != nil {
		a.Pattern, a.Webhook = v[:loc[0]], v[loc[0]+1:]
	}
	if err := a.Validate(); err != nil {
		return a, errors.New(gaffer.ErrorMessage(err))
	}
	return a, nil
}
