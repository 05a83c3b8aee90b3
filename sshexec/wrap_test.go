package sshexec

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The wrapped command behaves as the command run by the login shell
// itself: same stdout, stderr and exit status, and the pid line printed
// is the command's $$. Checked with bash, dash (Debian's /bin/sh) and
// busybox sh run as sshd runs a login shell for a command.
func TestWrapKeepsShellSemantics(t *testing.T) {
	shells := []struct {
		name string
		path string // the login shell sshd would run; its basename is $0
		argv []string
	}{
		{"bash", "/bin/bash", []string{"bash"}},
		{"dash", "/bin/dash", []string{"sh"}},
		{"busybox", "/bin/busybox", []string{"sh"}}, // busybox picks the applet from argv[0]
	}
	tests := []struct {
		name, cmd string
		// badFirstLine: a syntax error on the first line, so the shell
		// runs nothing, not even the pid line, and exits 2.
		badFirstLine bool
	}{
		{name: "quotes and variables", cmd: `echo 'single' "double" $V "$V" '$V'`},
		{name: "escaped single quote", cmd: `echo 'it'\''s'; echo "it's"`},
		{name: "word splitting", cmd: `printf '%s|' "a b" 'c  d' e\ f; echo`},
		{name: "pipes", cmd: `echo one | tr a-z A-Z | sed 's/O/0/'`},
		{name: "multi-line script", cmd: "x=1\nif [ \"$x\" = 1 ]; then\n  echo yes\nfi\nexit 3"},
		{name: "dollar zero and arguments", cmd: `echo "$0"; echo "$#" "$@"`},
		{name: "line numbers", cmd: "echo $LINENO\n\necho $LINENO"},
		{name: "exit 255", cmd: `exit 255`},
		{name: "stdout, stderr, status", cmd: `echo out; echo err >&2; false`},
		{name: "backslashes", cmd: `echo '\n' "\\" '\'`},
		{name: "nested quotes", cmd: `echo "$(echo 'nested '"'"'quotes'"'"'')"`},
		{name: "heredoc", cmd: "cat <<EOF\n$V 'x' \"y\"\nEOF"},
		{name: "quoted heredoc", cmd: "cat <<'EOF'\n$V `x` \\\nEOF\necho after"},
		{name: "continued first line", cmd: "echo a \\\n  b"},
		{name: "background first", cmd: "sleep 0 &\nwait; echo waited"},
		{name: "negation first", cmd: `! false && echo negated`},
		{name: "comment only", cmd: `# nothing`},
		{name: "empty", cmd: ``},
		{name: "blank lines", cmd: "\n\n"},
		{name: "exec", cmd: `exec echo replaced`},
		{name: "exit trap", cmd: `trap 'echo bye' EXIT; echo hi`},
		{name: "set -e", cmd: "set -e\nfalse\necho not reached"},
		{name: "not found", cmd: "true\nno-such-command-gaffer"},
		{name: "syntax error later", cmd: "echo before\nfi\necho after"},
		{name: "unterminated quote", cmd: `'`, badFirstLine: true},
		{name: "stray fi", cmd: `fi`, badFirstLine: true},
		{name: "unfinished if", cmd: "if true; then\necho x", badFirstLine: true},
	}
	for _, sh := range shells {
		t.Run(sh.name, func(t *testing.T) {
			if _, err := os.Stat(sh.path); err != nil {
				t.Fatalf("%s is missing (scripts/test installs it: apt-get install %s): %v", sh.path, sh.name, err)
			}
			run := func(t *testing.T, script string) (stdout, stderr string, code int) {
				t.Helper()
				cmd := exec.Command(sh.path, append(sh.argv[1:], "-c", script)...)
				cmd.Args[0] = sh.argv[0]
				cmd.Env = []string{"SHELL=" + sh.path, "PATH=/usr/bin:/bin", "V=from env"}
				var o, e bytes.Buffer
				cmd.Stdout, cmd.Stderr = &o, &e
				err := cmd.Run()
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				return o.String(), e.String(), code
			}
			// The pid printed is the shell's, the one that runs the command.
			out, _, _ := run(t, wrap("echo $$", "n0nce"))
			if l := pidLine(out); l == "" || out != l+strings.TrimPrefix(l, pidMarker+"n0nce ") {
				t.Errorf("the pid line is not the command's $$: %q", out)
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					wantOut, wantErr, wantCode := run(t, tt.cmd)
					wrapped := wrap(tt.cmd, "n0nce")
					gotOut, gotErr, gotCode := run(t, wrapped)
					if tt.badFirstLine {
						// bash quotes the faulty line, echo included.
						gotErr = strings.ReplaceAll(gotErr, strings.TrimSuffix(wrapped, tt.cmd), "")
						if wantCode != 2 || strings.Contains(gotOut, pidMarker) {
							t.Errorf("want exit 2 and no pid line; bare exit %d, wrapped stdout %q", wantCode, gotOut)
						}
					} else {
						l := pidLine(gotOut)
						if l == "" {
							t.Fatalf("no pid line first: %q", gotOut)
						}
						gotOut = gotOut[len(l):]
					}
					if gotOut != wantOut || gotErr != wantErr || gotCode != wantCode {
						t.Errorf("%q:\n wrapped: exit %d, stdout %q, stderr %q\n    bare: exit %d, stdout %q, stderr %q",
							tt.cmd, gotCode, gotOut, gotErr, wantCode, wantOut, wantErr)
					}
				})
			}
		})
	}
}

// pidLine returns the first line of out if it is a pid line.
func pidLine(out string) string {
	line, _, _ := strings.Cut(out, "\n")
	if pid, ok := strings.CutPrefix(line, pidMarker+"n0nce "); !ok || pid == "" || strings.Trim(pid, "0123456789") != "" {
		return ""
	}
	return line + "\n"
}

// recorder remembers each write, to check that bytes are not held back
// once the pid line has passed.
type recorder struct{ writes []string }

func (r *recorder) Write(b []byte) (int, error) {
	r.writes = append(r.writes, string(b))
	return len(b), nil
}

func TestPIDFilter(t *testing.T) {
	const marker = pidMarker + "abc "
	tests := []struct {
		name    string
		chunks  []string
		wantOut string
		wantPID int
	}{
		{"one chunk", []string{marker + "42\nhello\n"}, "hello\n", 42},
		{"split everywhere", []string{"GAF", "FER_PID:ab", "c 4", "2", "\n", "hel", "lo"}, "hello", 42},
		{"pty line end", []string{marker + "42\r", "\nhello\r\n"}, "hello\r\n", 42},
		{"start-up file output first", []string{"motd line\n", marker + "7\nout"}, "motd line\nout", 7},
		{"another nonce is output", []string{pidMarker + "xyz 5\n" + marker + "6\n"}, pidMarker + "xyz 5\n", 6},
		{"never comes", []string{"no newline at all"}, "no newline at all", 0},
		{"later marker lines are output", []string{marker + "9\n" + marker + "10\n"}, marker + "10\n", 9},
		{"huge first line", []string{strings.Repeat("x", maxHeld+1)}, strings.Repeat("x", maxHeld+1), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			f := &pidFilter{w: &rec, marker: []byte(marker), pid: make(chan int, 1)}
			for _, c := range tt.chunks {
				if n, err := f.Write([]byte(c)); n != len(c) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			f.flush()
			if got := strings.Join(rec.writes, ""); got != tt.wantOut {
				t.Errorf("output %q, want %q", got, tt.wantOut)
			}
			pid := 0
			select {
			case pid = <-f.pid:
			default:
			}
			if pid != tt.wantPID {
				t.Errorf("pid %d, want %d", pid, tt.wantPID)
			}
		})
	}

	// After the pid line each chunk is passed on as it comes.
	var rec recorder
	f := &pidFilter{w: &rec, marker: []byte(marker), pid: make(chan int, 1)}
	f.Write([]byte(marker + "12\n"))
	f.Write([]byte("par"))
	if !bytes.Equal([]byte(strings.Join(rec.writes, "")), []byte("par")) {
		t.Errorf("a partial line was held back: %q", rec.writes)
	}
}
