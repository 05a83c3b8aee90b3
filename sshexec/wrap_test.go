package sshexec

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// The wrapped command behaves as the command run by the login shell
// itself: same output, same exit status. Checked with the local /bin/sh
// as the login shell, as sshd would run it.
func TestWrapKeepsShellSemantics(t *testing.T) {
	run := func(t *testing.T, script string) (string, int) {
		t.Helper()
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.Args[0] = "sh" // as sshd runs the login shell
		cmd.Env = []string{"SHELL=/bin/sh", "PATH=/usr/bin:/bin", "V=from env"}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	for _, cmd := range []string{
		`echo 'single' "double" $V "$V" '$V'`,
		`echo 'it'\''s'; echo "it's"`,
		`printf '%s|' "a b" 'c  d' e\ f; echo`,
		`echo one | tr a-z A-Z | sed 's/O/0/'`,
		"x=1\nif [ \"$x\" = 1 ]; then\n  echo yes\nfi\nexit 3",
		`echo "$0"; echo "$#" "$@"`,
		`exit 255`,
		`echo out; echo err >&2; false`,
		`echo '\n' "\\" '\'`,
		`echo "$(echo 'nested '"'"'quotes'"'"'')"`,
		"cat <<EOF\n$V 'x' \"y\"\nEOF",
		``,
		`'`,
	} {
		wantOut, wantCode := run(t, cmd)
		gotOut, gotCode := run(t, wrap(cmd, "n0nce"))
		gotOut, ok := strings.CutPrefix(gotOut, pidMarker+"n0nce ")
		if i := strings.IndexByte(gotOut, '\n'); !ok || i < 0 {
			t.Errorf("%q: no pid line in %q", cmd, gotOut)
			continue
		} else {
			gotOut = gotOut[i+1:]
		}
		if gotOut != wantOut || gotCode != wantCode {
			t.Errorf("%q:\n wrapped: exit %d, %q\n    bare: exit %d, %q", cmd, gotCode, gotOut, wantCode, wantOut)
		}
	}
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
