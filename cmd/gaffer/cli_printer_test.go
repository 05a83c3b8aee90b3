package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// printRecords prints recs through a printer whose outputs are (tty) or are
// not terminals, with or without colour, and returns stdout and stderr.
func printRecords(t *testing.T, tty, color, timestamps bool, width int, recs ...gaffer.Record) (string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	p := &printer{out: bufio.NewWriter(&out), errOut: bufio.NewWriter(&errOut),
		outTTY: tty, errTTY: tty, outColor: color, errColor: color, timestamps: timestamps, width: width}
	for _, r := range recs {
		p.printRecord(r)
	}
	if err := p.finish(); err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String()
}

func rec(host string, stream gaffer.Stream, text string, nl bool) gaffer.Record {
	return gaffer.Record{TS: time.Date(2026, 11, 25, 22, 1, 2, 120000000, time.UTC), Host: host, Stream: stream, Data: []byte(text), NL: nl}
}

func TestCLIPrinterText(t *testing.T) {
	out, err := gaffer.Stdout, gaffer.Stderr
	tests := []struct {
		name             string
		tty, color       bool
		recs             []gaffer.Record
		wantOut, wantErr string
	}{
		{name: "lines", recs: []gaffer.Record{rec("web-1", out, "a", true), rec("web-1", err, "b", true), rec("web-1", gaffer.System, "exit status 0", true)},
			wantOut: "web-1 | a\n", wantErr: "web-1 ! b\nweb-1 * exit status 0\n"},
		// Not a terminal: what a terminal would finally show, after the prefix.
		{name: "progress bar, file", recs: []gaffer.Record{rec("h", out, "10%\r20%\r100%", true)}, wantOut: "h | 100%\n"},
		{name: "shorter overwrite, file", recs: []gaffer.Record{rec("h", out, "100%\rok", true)}, wantOut: "h | ok0%\n"},
		{name: "erase to the end, file", recs: []gaffer.Record{rec("h", out, "100%\r\x1b[Kok", true)}, wantOut: "h | ok\n"},
		{name: "erase the line, file", recs: []gaffer.Record{rec("h", out, "100%\r\x1b[2Kok", true)}, wantOut: "h | ok\n"},
		{name: "backspace spinner, file", recs: []gaffer.Record{rec("h", out, "work |\b/\b-\bdone", true)}, wantOut: "h | work done\n"},
		{name: "CRLF, file", recs: []gaffer.Record{rec("h", out, "pty line\r", true)}, wantOut: "h | pty line\n"},
		{name: "split line with \\r, file", recs: []gaffer.Record{rec("h", out, "10%\r2", false), rec("h", out, "0%\r30%", true)}, wantOut: "h | 30%\n"},
		{name: "escapes dropped, file", recs: []gaffer.Record{rec("h", out, "\x1b[31mred\x1b[0m \x1b]0;title\x07\x1b]52;c;Zm9v\x1b\\\x1b[2J\x1b[Hdone\x07", true)}, wantOut: "h | red done\n"},
		// A terminal: the prefix again after each \r, never overwritten.
		{name: "progress bar, terminal", tty: true, recs: []gaffer.Record{rec("h", out, "10%\r20%\r100%", true)}, wantOut: "h | 10%\rh | 20%\rh | 100%\n"},
		{name: "erase line keeps the prefix, terminal", tty: true, recs: []gaffer.Record{rec("h", out, "100%\r\x1b[2Kok", true)}, wantOut: "h | 100%\rh | \x1b[Kok\n"},
		{name: "backspace stops at the prefix, terminal", tty: true, recs: []gaffer.Record{rec("h", out, "a\b\b\bb", true)}, wantOut: "h | a\bb\n"},
		{name: "CRLF, terminal", tty: true, recs: []gaffer.Record{rec("h", out, "pty line\r", true)}, wantOut: "h | pty line\n"},
		{name: "no colour on a terminal with NO_COLOR", tty: true, recs: []gaffer.Record{rec("h", out, "\x1b[31mred\x1b[0m \x1b]0;title\x07\x1b[2Jdone", true)}, wantOut: "h | red done\n"},
		{name: "colours on a terminal", tty: true, color: true, recs: []gaffer.Record{rec("h", out, "\x1b[31mred\x1b[0m\x1b[2J", true), rec("h", err, "e", true), rec("h", gaffer.System, "s", true)},
			wantOut: "\x1b[33mh\x1b[0m | \x1b[31mred\x1b[0m\n", wantErr: "\x1b[33mh\x1b[0m \x1b[1;31m!\x1b[0m e\n\x1b[33mh\x1b[0m \x1b[2m* s\x1b[0m\n"},
		// Parts of one line are joined; another host's line ends it.
		{name: "parts and interleaving", recs: []gaffer.Record{rec("a", out, "par", false), rec("a", out, "t", true), rec("a", out, "x", false), rec("b", out, "y", true)},
			wantOut: "a | part\na | x\nb | y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotOut, gotErr := printRecords(t, tt.tty, tt.color, false, 0, tt.recs...)
			if gotOut != tt.wantOut || gotErr != tt.wantErr {
				t.Errorf("stdout %q, want %q\nstderr %q, want %q", gotOut, tt.wantOut, gotErr, tt.wantErr)
			}
		})
	}
}

// Host names are padded to the widest; timestamps have 9 fraction digits.
func TestCLIPrinterWidthAndTimestamps(t *testing.T) {
	out, _ := printRecords(t, false, false, true, 5, rec("a", gaffer.Stdout, "x", true), rec("web-1", gaffer.Stdout, "y", true))
	want := "2026-11-25T22:01:02.120000000Z a     | x\n2026-11-25T22:01:02.120000000Z web-1 | y\n"
	if out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	for ts, want := range map[string]string{
		"2026-11-25T22:01:02Z":           "2026-11-25T22:01:02.000000000Z",
		"2026-11-25T22:01:02.5Z":         "2026-11-25T22:01:02.500000000Z",
		"2026-11-25T22:01:02.123456789Z": "2026-11-25T22:01:02.123456789Z",
		"2026-11-25T23:01:02.5+01:00":    "2026-11-25T23:01:02.5+01:00",
		"not a time":                     "not a time",
	} {
		if got := string(appendTimestamp(nil, []byte(ts))); got != want {
			t.Errorf("%s: got %s, want %s", ts, got, want)
		}
	}
}

// A line longer than maxPending is written as it comes, whole.
func TestCLIPrinterLongLine(t *testing.T) {
	long := strings.Repeat("x", maxPending)
	out, _ := printRecords(t, false, false, false, 0, rec("h", gaffer.Stdout, long, false), rec("h", gaffer.Stdout, long, false), rec("h", gaffer.Stdout, "end", true))
	if want := "h | " + long + long + "end\n"; out != want {
		t.Errorf("got %d bytes, want %d", len(out), len(want))
	}
}

// fileRec is a follow job's record: a line of file on host.
func fileRec(host, file string, stream gaffer.Stream, text string, alert bool) gaffer.Record {
	r := rec(host, stream, text, true)
	r.File, r.Alert = file, alert
	return r
}

// A follow job's lines carry their file after the host, padded to the
// longest file seen so far; lines without one (Gaffer's own about a host)
// leave the column blank. An alert's line is marked on a colour terminal
// only.
func TestCLIPrinterFiles(t *testing.T) {
	out, sys := gaffer.Stdout, gaffer.System
	const a, long = "/var/log/a.log", "/var/log/nginx/error.log"
	recs := []gaffer.Record{
		fileRec("web-1", a, out, "one", false),
		fileRec("web-1", long, out, "two", true),
		fileRec("web-1", a, out, "three", false),
		fileRec("web-1", "", sys, "away: connection lost", false),
		fileRec("db", long, sys, "rotated", false),
	}
	for _, tt := range []struct {
		name             string
		tty, color       bool
		wantOut, wantErr string
	}{
		{name: "plain",
			wantOut: "web-1 /var/log/a.log | one\n" +
				"web-1 /var/log/nginx/error.log | two\n" +
				"web-1 /var/log/a.log           | three\n",
			wantErr: "web-1                          * away: connection lost\n" +
				"db    /var/log/nginx/error.log * rotated\n"},
		{name: "colour", tty: true, color: true,
			wantOut: "\x1b[96mweb-1\x1b[0m /var/log/a.log | one\n" +
				"\x1b[96mweb-1\x1b[0m /var/log/nginx/error.log \x1b[1;7;31m|\x1b[0m two\n" +
				"\x1b[96mweb-1\x1b[0m /var/log/a.log           | three\n",
			wantErr: "\x1b[96mweb-1\x1b[0m                          \x1b[2m* away: connection lost\x1b[0m\n" +
				"\x1b[32mdb   \x1b[0m /var/log/nginx/error.log \x1b[2m* rotated\x1b[0m\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gotOut, gotErr := printRecords(t, tt.tty, tt.color, false, 5, recs...)
			if gotOut != tt.wantOut || gotErr != tt.wantErr {
				t.Errorf("stdout %q\nwant   %q\nstderr %q\nwant   %q", gotOut, tt.wantOut, gotErr, tt.wantErr)
			}
		})
	}
	// A command job's records have no file: nothing changes for them.
	if got, _ := printRecords(t, false, false, false, 0, rec("h", out, "x", true)); got != "h | x\n" {
		t.Errorf("command record: %q", got)
	}
}

// A follow job's progress line counts hosts by follow state and names
// missing and unreadable paths.
func TestCLIFollowStatus(t *testing.T) {
	run := func(host string, status gaffer.Status, st *gaffer.FollowState) *gaffer.Run {
		return &gaffer.Run{Host: host, Status: status, Follow: st}
	}
	files := []gaffer.FileState{{Path: "/a", State: gaffer.FileMissing}, {Path: "/b", State: gaffer.FileError}, {Path: "/c", State: gaffer.FileFollowing}}
	for _, tt := range []struct {
		job  gaffer.Job
		want string
	}{
		{gaffer.Job{Follow: []string{"/a"}, Status: gaffer.StatusRunning, Runs: []*gaffer.Run{run("a", gaffer.StatusRunning, nil)}}, "1 connecting"},
		{gaffer.Job{Follow: []string{"/a"}, Status: gaffer.StatusRunning, Runs: []*gaffer.Run{
			run("a", gaffer.StatusRunning, &gaffer.FollowState{State: gaffer.FollowFollowing, Files: files}),
			run("b", gaffer.StatusRunning, &gaffer.FollowState{State: gaffer.FollowReconnecting}),
			run("c", gaffer.StatusRunning, &gaffer.FollowState{State: gaffer.FollowFollowing}),
			run("d", gaffer.StatusFailed, nil),
		}}, "2 following, 1 reconnecting, 1 failed; 1 missing; 1 unreadable"},
		{gaffer.Job{Follow: []string{"/a"}, Status: gaffer.StatusCanceled, Runs: []*gaffer.Run{run("a", gaffer.StatusCanceled, nil)}}, "1 canceled"},
	} {
		if got := followStatus(&tt.job); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
