package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// gaffer audit prints the trail as a table, newest first, filtered; -o
// json gives the API's events; a bad value is the server's 400 message.
func TestCLIAudit(t *testing.T) {
	ts := startServer(t)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"}, Command: "true"})
	ts.waitJob(t, job.ID)
	out, errOut, code := gafferCLI(t, ts, "audit")
	if code != 0 {
		t.Fatalf("gaffer audit: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "ACTION") {
		t.Fatalf("gaffer audit:\n%s", out)
	}
	f := strings.Fields(lines[1])
	if len(f) < 7 || f[3] != "admin" || f[4] != gaffer.AuditJobStart || f[5]+" "+f[6] != fmt.Sprintf("job %d", job.ID) || !strings.Contains(lines[1], `"hosts":["local"]`) {
		t.Errorf("row %q", lines[1])
	}
	out, _, code = gafferCLI(t, ts, "audit", "--action", "job.cancel")
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("--action job.cancel: exit %d\n%s", code, out)
	}
	out, _, code = gafferCLI(t, ts, "audit", "-o", "json", "--limit", "1")
	var e gaffer.AuditEvent
	if code != 0 || json.Unmarshal([]byte(out), &e) != nil || e.Action != gaffer.AuditJobStart {
		t.Errorf("-o json: exit %d\n%s", code, out)
	}
	_, errOut, code = gafferCLI(t, ts, "audit", "--action", "nope")
	if code == 0 || !strings.Contains(errOut, `action="nope" is not one of`) {
		t.Errorf("--action nope: exit %d: %s", code, errOut)
	}
}

// A value of the trail cannot forge a row of the table or send the
// terminal an escape sequence: it is quoted.
func TestAuditPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"job 42", "job 42"},
		{"token 3 (alice)", "token 3 (alice)"},
		{"héllo wörld", "héllo wörld"},
		{"a\nb", `"a\nb"`},
		{"a\tb", `"a\tb"`},
		{"\x1b[31mred", `"\x1b[31mred"`},
		{"\u009b31m", `"\u009b31m"`},
		{"bad \xff byte", `"bad \xff byte"`},
	} {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
