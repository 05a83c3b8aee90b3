package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gaffer-dev/gaffer"
)

// mixedCommand writes stdout lines (one a \r progress bar), then a stderr
// line: records 1 running…, 2 one, 3 the bar, 4 three, 5 two, 6 exit status.
const mixedCommand = `echo one; printf '10%%\r20%%\r100%%\n'; echo three; sleep 0.3; echo two >&2`

func finishedJob(t *testing.T, ts *testServer, command string) string {
	t.Helper()
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: command})
	ts.waitJob(t, job.ID)
	return fmt.Sprint(job.ID)
}

func TestLogsFlagsAgainstTheServer(t *testing.T) {
	ts := startServer(t)
	id := finishedJob(t, ts, mixedCommand)
	tests := []struct {
		name             string
		args             []string
		wantOut, wantErr string // wantErr: a part of stderr
	}{
		{"text", nil, "local | one\nlocal | 100%\nlocal | three\n", "local ! two\nlocal * exit status 0"},
		{"flags after the job id", []string{id, "--stream", "stdout"}, "local | one\nlocal | 100%\nlocal | three\n", ""},
		{"host", []string{"--host", "local"}, "local | one\nlocal | 100%\nlocal | three\n", "local ! two\n"},
		{"stream stderr", []string{"--stream", "stderr"}, "", "local ! two\n"},
		{"tail", []string{"--tail", "2", "--stream", "stdout"}, "local | 100%\nlocal | three\n", ""},
		{"after", []string{"--after", "2"}, "local | 100%\nlocal | three\n", "local ! two\n"},
		{"since an hour", []string{"--since", "1h", "--stream", "stdout"}, "local | one\nlocal | 100%\nlocal | three\n", ""},
		{"raw", []string{"-o", "raw"}, "one\n10%\r20%\r100%\nthree\n", ""},
		{"raw stderr", []string{"-o", "raw", "--stream", "stderr"}, "two\n", ""},
		{"raw tail", []string{"-o", "raw", "--tail", "1"}, "three\n", ""},
		{"grep", []string{"--grep", "THREE"}, "local | three\n", ""},
		{"grep case-sensitive", []string{"--grep", "THREE", "--case"}, "", ""},
		{"grep regex", []string{"--grep", `^(one|two)$`, "--regex"}, "local | one\n", "local ! two\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"logs"}, tt.args...)
			if len(tt.args) == 0 || tt.args[0] != id {
				args = append(args, id)
			}
			out, errOut, code := gafferCLI(t, ts, args...)
			if code != 0 || out != tt.wantOut || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("code %d\nstdout %q, want %q\nstderr %q, want it to hold %q", code, out, tt.wantOut, errOut, tt.wantErr)
			}
			if strings.Contains(out+errOut, "\x1b") {
				t.Fatalf("escape sequences without a terminal: %q %q", out, errOut)
			}
		})
	}

	// -o json is the server's NDJSON, byte for byte.
	out, _, code := gafferCLI(t, ts, "logs", "-o", "json", id)
	resp := ts.request(t, "GET", "/api/jobs/"+id+"/log", nil, "Accept", "application/x-ndjson")
	want, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if code != 0 || out != string(want) || strings.Count(out, "\n") != 6 {
		t.Fatalf("-o json: code %d\n%s\nwant\n%s", code, out, want)
	}
	var recs []gaffer.Record
	decodeNDJSON(strings.NewReader(out), func(r gaffer.Record) { recs = append(recs, r) }, nil)

	// -o json with --grep: the matching records only, without the trailer.
	out, _, _ = gafferCLI(t, ts, "logs", "-o", "json", "--grep", "o", id)
	if n := strings.Count(out, "\n"); n != 3 || strings.Contains(out, "scanned_to") { // running on…, one, two
		t.Fatalf("-o json --grep: %d lines\n%s", n, out)
	}

	// --timestamps: the record's time first, 9 fraction digits.
	out, _, _ = gafferCLI(t, ts, "logs", "--timestamps", "--stream", "stdout", id)
	line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z local \| (one|100%|three)$`)
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !line.MatchString(l) {
			t.Fatalf("--timestamps line %q", l)
		}
	}

	// --since a time: from the first record at or after it (the first
	// three stdout lines may share one time: they came in one read).
	since := recs[4].TS.Format(time.RFC3339Nano) // "two"
	out, errOut, _ := gafferCLI(t, ts, "logs", "--since", since, id)
	if out != "" || !strings.HasPrefix(errOut, "local ! two\nlocal * exit status 0") {
		t.Fatalf("--since %s: %q %q", since, out, errOut)
	}
	for pattern, want := range map[string]string{"one": "", "two": "local ! two\n"} {
		out, errOut, _ = gafferCLI(t, ts, "logs", "--since", since, "--grep", pattern, id)
		if out != "" || errOut != want {
			t.Fatalf("--since %s --grep %s: %q %q", since, pattern, out, errOut)
		}
	}
}

// --grep pages through the whole log with after=scanned_to until done.
func TestLogsGrepPages(t *testing.T) {
	ts := startServer(t)
	id := finishedJob(t, ts, "seq 1 3000")
	defer func(n int) { searchPageLimit = n }(searchPageLimit)
	searchPageLimit = 40
	out, _, code := gafferCLI(t, ts, "logs", "--grep", "7", id)
	var want strings.Builder
	for i := 1; i <= 3000; i++ {
		if strings.Contains(fmt.Sprint(i), "7") {
			fmt.Fprintf(&want, "local | %d\n", i)
		}
	}
	if code != 0 || out != want.String() {
		t.Fatalf("code %d, %d lines, want %d", code, strings.Count(out, "\n"), strings.Count(want.String(), "\n"))
	}
	t.Logf("%d matches in pages of %d", strings.Count(out, "\n"), searchPageLimit)
}

// -f follows to the end and exits with the job's exit code; with --grep
// and --tail it goes on live with the same match.
func TestLogsFollow(t *testing.T) {
	ts := startServer(t)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "for i in 1 2 3; do echo $i; sleep 0.1; done; exit 3"})
	out, errOut, code := gafferCLI(t, ts, "logs", "-f", fmt.Sprint(job.ID))
	if code != 3 || out != "local | 1\nlocal | 2\nlocal | 3\n" || !strings.Contains(errOut, "local failed: exit status 3") {
		t.Fatalf("-f, exit 3: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _, code = gafferCLI(t, ts, "logs", "-f", "--tail", "1", fmt.Sprint(job.ID))
	if code != 3 || out != "" {
		t.Fatalf("-f --tail 1 of a finished job: code %d, %q", code, out)
	}

	job = ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "for i in 1 2 3 4 5 6; do echo line$i; sleep 0.3; done"})
	waitForText(t, ts, job.ID, "line2")
	out, _, code = gafferCLI(t, ts, "logs", "-f", "--grep", "line[246]", "--regex", fmt.Sprint(job.ID))
	if code != 0 || out != "local | line2\nlocal | line4\nlocal | line6\n" {
		t.Fatalf("-f --grep: code %d, %q", code, out)
	}

	job = ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "echo a; echo b; echo c; sleep 1; echo d"})
	waitForText(t, ts, job.ID, "c")
	out, _, code = gafferCLI(t, ts, "logs", "-f", "--tail", "2", "--stream", "stdout", fmt.Sprint(job.ID))
	if code != 0 || out != "local | b\nlocal | c\nlocal | d\n" {
		t.Fatalf("-f --tail 2: code %d, %q", code, out)
	}
	out, _, code = gafferCLI(t, ts, "logs", "-f", "-o", "json", "--since", "1h", "--stream", "stdout", fmt.Sprint(job.ID))
	if code != 0 || strings.Count(out, "\n") != 4 {
		t.Fatalf("-f -o json: code %d, %q", code, out)
	}
}

// waitForText waits until a record with this text is in the job's log.
func waitForText(t *testing.T, ts *testServer, id int64, text string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, r := range ts.ndjson(t, id, "") {
			if string(r.Data) == text {
				return
			}
		}
	}
	t.Fatalf("job %d never wrote %q", id, text)
}

// Mistakes on the command line: exit code 2 and a message naming the flag.
func TestLogsBadFlags(t *testing.T) {
	ts := startServer(t)
	id := finishedJob(t, ts, "echo hi")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--tail", "0", id}, "--tail 0"},
		{[]string{"--tail", "x", id}, `invalid value "x" for flag -tail`},
		{[]string{"--after", "-1", id}, "--after -1"},
		{[]string{"--since", "yesterday", id}, `--since "yesterday"`},
		{[]string{"--since", "-5m", id}, "--since -5m"},
		{[]string{"--stream", "stdin", id}, `--stream "stdin"`},
		{[]string{"-o", "yaml", id}, `-o "yaml"`},
		{[]string{"--grep", "a(", "--regex", id}, `--grep "a(": is not a valid regular expression`},
		{[]string{"--grep", "", id}, `--grep ""`},
		{[]string{"--regex", id}, "--regex and --case go with --grep"},
		{[]string{"--tail", "1", "--after", "2", id}, "--tail and --after"},
		{[]string{"--tail", "1", "--grep", "x", id}, "--tail and --grep"},
		{[]string{"--since", "1m", "--after", "2", id}, "--since and --after"},
		{[]string{"--timestamps", "-o", "json", id}, "--timestamps goes with -o text"},
		{[]string{"-o", "raw", "-f", id}, "does not go with -f"},
		{[]string{"--bogus", id}, "flag provided but not defined: -bogus"},
		{[]string{}, "one job id"},
		{[]string{"1", "2"}, "one job id"},
		{[]string{"abc"}, `"abc" is not a job id`},
		{[]string{"--host", "nope", id}, "--host nope: job " + id + " did not run on nope; its hosts: local"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := gafferCLI(t, ts, append([]string{"logs"}, tt.args...)...)
			if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Fatalf("code %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tt.want)
			}
		})
	}
	// A server's error is its message, with exit code 1.
	_, errOut, code := gafferCLI(t, ts, "logs", "--tail", "1", "999")
	if code != 1 || strings.TrimSpace(errOut) != "gaffer: job 999 does not exist" {
		t.Fatalf("unknown job: %d %q", code, errOut)
	}
}

// On a terminal: coloured prefixes, and a progress bar's \r followed by the
// prefix again; with NO_COLOR the same without colours.
func TestLogsTerminal(t *testing.T) {
	ts := startServer(t)
	id := finishedJob(t, ts, mixedCommand)
	for _, noColor := range []string{"", "1"} {
		t.Run("NO_COLOR="+noColor, func(t *testing.T) {
			t.Setenv("NO_COLOR", noColor)
			got := onTerminal(t, "logs", "--server", ts.URL, "--token", testToken, "--stream", "stdout", id)
			prefix := "local | "
			if noColor == "" {
				prefix = "\x1b[34mlocal\x1b[0m | "
			}
			if want := prefix + "10%\r" + prefix + "20%\r" + prefix + "100%"; !strings.Contains(got, want) {
				t.Fatalf("got %q, want it to hold %q", got, want)
			}
			if noColor != "" && strings.Contains(got, "\x1b") {
				t.Fatalf("NO_COLOR: escapes in %q", got)
			}
		})
	}
}

// onTerminal runs gaffer with a pseudo-terminal as stdout and returns what
// the terminal received.
func onTerminal(t *testing.T, args ...string) string {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	var unlock int32
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, master) // ends with EIO once the terminal is closed
		got <- b.String()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errOut bytes.Buffer
	if code := exitCode(run(ctx, args, tty, &errOut), &errOut); code != 0 {
		t.Fatalf("code %d: %s", code, errOut.String())
	}
	tty.Close()
	return <-got
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := exitCode(run(context.Background(), []string{"completion", shell}, &out, &errOut), &errOut); code != 0 {
				t.Fatalf("code %d: %s", code, errOut.String())
			}
			script := out.String()
			for _, want := range []string{"logs", "cancel", "--tail", "--grep", "stdout stderr system", "text json raw", " jobs ", " hosts "} {
				if !strings.Contains(script, want) && !strings.Contains(script, strings.TrimPrefix(want, "--")) {
					t.Errorf("no %q in the %s script", want, shell)
				}
			}
			check := map[string][]string{"bash": {"bash", "-n"}, "zsh": {"zsh", "-n"}, "fish": {"fish", "--no-execute"}}[shell]
			if _, err := exec.LookPath(check[0]); err != nil {
				t.Logf("%s is not installed: the script's syntax is not checked", check[0])
				return
			}
			cmd := exec.Command(check[0], check[1:]...)
			cmd.Stdin = strings.NewReader(script)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", strings.Join(check, " "), err, b)
			}
		})
	}
	// bash: the function completes subcommands and logs' flags.
	var out bytes.Buffer
	run(context.Background(), []string{"completion", "bash"}, &out, io.Discard)
	cmd := exec.Command("bash", "-c", out.String()+`
COMP_WORDS=(gaffer lo); COMP_CWORD=1; _gaffer; echo "${COMPREPLY[@]}"
COMP_WORDS=(gaffer logs --ta); COMP_CWORD=2; _gaffer; echo "${COMPREPLY[@]}"
COMP_WORDS=(gaffer logs --stream s); COMP_CWORD=3; _gaffer; echo "${COMPREPLY[@]}"`)
	b, err := cmd.CombinedOutput()
	if err != nil || string(b) != "logs\n--tail\nstdout stderr system\n" {
		t.Fatalf("bash completion: %v %q", err, b)
	}
	var errOut bytes.Buffer
	if code := exitCode(run(context.Background(), []string{"completion", "tcsh"}, io.Discard, &errOut), &errOut); code != 2 || !strings.Contains(errOut.String(), `"tcsh"`) {
		t.Fatalf("completion tcsh: %d %q", code, errOut.String())
	}
}
