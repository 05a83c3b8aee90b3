package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

const (
	jobSecret = "s3cr3t-Value-7731xq"
	// srvSecret is in --secret-file; the command makes it with $((6*7)),
	// so the job's command does not hold it.
	srvSecret = "server-42-wide-value"
)

// secretCommand prints the job's secret $S whole, split across two writes
// 100 ms apart (longer than the quiet flush), base64-encoded, and the
// server-wide secret.
const secretCommand = `echo "whole $S end"
printf 'split %s' "${S%????}"; sleep 0.1; printf '%s end\n' "${S#"${S%????}"}"
printf %s "$S" | base64
echo "srv server-$((6*7))-wide-value end"
echo "$S" >&2`

// secretForms are the strings that must appear nowhere.
func secretForms() []string {
	var out []string
	for _, s := range []string{jobSecret, srvSecret} {
		out = append(out, s, base64.StdEncoding.EncodeToString([]byte(s))[:20], base64.URLEncoding.EncodeToString([]byte(s))[:20])
	}
	return out
}

func assertNoSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, f := range secretForms() {
		if strings.Contains(text, f) {
			t.Errorf("%s holds %q:\n%s", what, f, text)
		}
	}
}

func TestSecretsMasked(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 1})
	secretFile := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(secretFile, []byte("\n"+srvSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, "--inventory", writeInventory(t, sshd.Hosts(), ""), "--known-hosts", sshd.KnownHosts,
		"--secret-file", secretFile, "--log-level", "debug")

	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local", "host-1"}, Command: secretCommand,
		Secrets: map[string]string{"S": jobSecret}})
	j := ts.waitJob(t, job.ID)
	if j.Status != gaffer.StatusSucceeded {
		t.Fatalf("job: %s %+v %+v", j.Status, j.Runs[0], j.Runs[1])
	}

	get := func(path string, hdr ...string) string {
		t.Helper()
		resp := ts.request(t, "GET", path, nil, hdr...)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %s %v", path, resp.Status, err)
		}
		return string(b)
	}
	base := fmt.Sprintf("/api/jobs/%d", job.ID)
	ndjson := get(base+"/log", "Accept", "application/x-ndjson")
	assertNoSecrets(t, "NDJSON log", ndjson)
	assertNoSecrets(t, "job JSON", get(base))
	assertNoSecrets(t, "job list", get("/api/jobs"))
	assertNoSecrets(t, "search", get(base+"/log/search?q=s3cr3t"))
	if s := get(base + "/log/search?q=s3cr3t"); !strings.Contains(s, `"matches":0`) {
		t.Errorf("search for the secret matched: %s", s)
	}

	sse := ts.openSSE(t, job.ID, "")
	recs, end := sse.readLines(t, -1)
	sse.Close()
	if !end {
		t.Fatal("SSE: no end event")
	}
	var sseText strings.Builder
	for _, r := range recs {
		sseText.WriteString(r.Host + " " + string(r.Stream) + " " + string(r.Data) + "\n")
	}
	assertNoSecrets(t, "SSE", sseText.String())

	for _, host := range []string{"local", "host-1"} {
		raw := get(base + "/log?format=raw&stream=stdout&host=" + host)
		assertNoSecrets(t, host+" raw log", raw)
		lines := strings.Split(raw, "\n")
		// base64 keeps its last characters, mixed with the padding.
		want := []string{"whole *** end", "", "***Q==", "srv *** end"}
		if len(lines) < 4 {
			t.Fatalf("%s raw log: %q", host, raw)
		}
		for i, w := range want {
			if w != "" && lines[i] != w {
				t.Errorf("%s line %d: %q, want %q", host, i, lines[i], w)
			}
		}
		// The split secret: its first part was shown by the quiet flush
		// before the rest came, masked; the rest masked on arrival.
		if !strings.HasPrefix(lines[1], "split ***") || !strings.HasSuffix(lines[1], " end") {
			t.Errorf("%s split line: %q", host, lines[1])
		}
		if errRaw := get(base + "/log?format=raw&stream=stderr&host=" + host); errRaw != "***\n" {
			t.Errorf("%s stderr: %q", host, errRaw)
		}
		t.Logf("%s stdout: %q", host, raw)
	}

	// A value with quotes, $ and a newline reaches both shells unchanged
	// (the SSH exports quote it).
	const quoted = "it's $(id) \"q\" `x` \\\n;'"
	job2 := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local", "host-1"}, Command: `printf %s "$Q" | sha256sum`,
		Secrets: map[string]string{"Q": quoted}})
	if j := ts.waitJob(t, job2.ID); j.Status != gaffer.StatusSucceeded {
		t.Fatalf("quoted job: %s", j.Status)
	}
	sum := fmt.Sprintf("%x  -", sha256.Sum256([]byte(quoted)))
	for _, host := range []string{"local", "host-1"} {
		if got := get(fmt.Sprintf("/api/jobs/%d/log?format=raw&stream=stdout&host=%s", job2.ID, host)); got != sum+"\n" {
			t.Errorf("%s: quoted value arrived as %q, want %q", host, got, sum)
		}
	}

	// Nothing in the data dir (archive, database) holds a secret.
	filepath.WalkDir(ts.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("read %s: %v", path, err)
			return nil
		}
		for _, f := range secretForms() {
			if strings.Contains(string(b), f) {
				t.Errorf("%s holds %q", path, f)
			}
		}
		return nil
	})
	assertNoSecrets(t, "server stdout", ts.Output())
	assertNoSecrets(t, "server log", ts.Log())
	if !strings.Contains(ts.Log(), "job started") {
		t.Errorf("no server log captured: %q", ts.Log())
	}
}

func TestSecretsInvalid(t *testing.T) {
	ts := startServer(t)
	long := strings.Repeat("v", gaffer.MaxSecretValue+1)
	many := map[string]string{}
	for i := 0; i <= gaffer.MaxSecrets; i++ {
		many[fmt.Sprintf("S%d", i)] = "value"
	}
	for _, tc := range []struct {
		name    string
		secrets map[string]string
		want    string
	}{
		{"bad name", map[string]string{"1BAD": "value-123"}, "is not a variable name"},
		{"name with =", map[string]string{"A=B": "value-123"}, "is not a variable name"},
		{"short", map[string]string{"S": "abc"}, "shorter than 4 bytes"},
		{"long", map[string]string{"S": long}, "the limit is 4096"},
		{"NUL", map[string]string{"S": "ab\x00cd"}, "NUL"},
		{"many", many, "the limit is 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(gaffer.JobRequest{Hosts: []string{"local"}, Command: "true", Secrets: tc.secrets})
			resp := ts.request(t, "POST", "/api/jobs", strings.NewReader(string(b)), "Content-Type", "application/json")
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%s %s", resp.Status, body)
			}
			for _, v := range tc.secrets {
				if len(v) >= 4 && strings.Contains(string(body), v) {
					t.Errorf("the error holds the value: %s", body)
				}
			}
		})
	}
}

// gaffer run --secret NAME sends $NAME as a secret.
func TestCLIRunSecret(t *testing.T) {
	ts := startServer(t)
	t.Setenv("MY_TOKEN", jobSecret)
	out, errOut, code := gafferCLI(t, ts, "run", "-H", "local", "--secret", "MY_TOKEN", "--", `echo "t=$MY_TOKEN"`)
	if code != 0 || out != "local | t=***\n" {
		t.Fatalf("run: code %d\nstdout %q\nstderr %q", code, out, errOut)
	}
	_, errOut, code = gafferCLI(t, ts, "run", "-H", "local", "--secret", "NOT_SET_ANYWHERE", "--", "true")
	if code != 2 || !strings.Contains(errOut, "NOT_SET_ANYWHERE is not set") {
		t.Fatalf("unset: code %d, stderr %q", code, errOut)
	}
}
