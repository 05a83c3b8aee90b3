package localexec_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/localexec"
)

// A local command sees none of the server's environment (settings, database
// and Redis URLs with passwords, the ssh agent): only a minimal one.
// Not parallel: it sets the test process's environment.
func TestExecMinimalEnvironment(t *testing.T) {
	t.Setenv("GAFFER_TEST_SECRET", "s3cret-from-the-server")
	t.Setenv("GAFFER_DATABASE_URL", "postgres://gaffer:pa55word@db/gaffer")
	t.Setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
	t.Setenv("LANG", "C.UTF-8")
	t.Setenv("TZ", "UTC")

	env := runEnv(t, &localexec.Executor{})
	for _, secret := range []string{"s3cret", "pa55word", "GAFFER_", "SSH_AUTH_SOCK"} {
		if strings.Contains(env.raw, secret) {
			t.Errorf("a local job's environment shows %q from the server's:\n%s", secret, env.raw)
		}
	}
	for _, name := range []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ"} {
		if env.vars[name] == "" {
			t.Errorf("%s missing:\n%s", name, env.raw)
		}
	}
	if env.vars["LANG"] != "C.UTF-8" || env.vars["TZ"] != "UTC" {
		t.Errorf("LANG %q, TZ %q: want the server's", env.vars["LANG"], env.vars["TZ"])
	}
	// The shell adds what it always does (PWD, ...); nothing else came.
	allowed := map[string]bool{"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true,
		"LANG": true, "TZ": true, "PWD": true, "OLDPWD": true, "SHLVL": true, "_": true}
	for name := range env.vars {
		if !allowed[name] {
			t.Errorf("unexpected variable %s in:\n%s", name, env.raw)
		}
	}
}

// Configured variables are added: set, or passed on from the server.
func TestExecConfiguredEnvironment(t *testing.T) {
	t.Setenv("GAFFER_TEST_PASSED", "passed on")
	t.Setenv("GAFFER_TEST_SECRET", "s3cret")
	t.Setenv("LANG", "C.UTF-8")
	env := runEnv(t, &localexec.Executor{Env: []string{
		"EXTRA=configured, 'quoted' = value", "GAFFER_TEST_PASSED", "GAFFER_TEST_UNSET", "LANG=de_DE.UTF-8", "EMPTY=",
	}})
	want := map[string]string{"EXTRA": "configured, 'quoted' = value", "GAFFER_TEST_PASSED": "passed on", "LANG": "de_DE.UTF-8", "EMPTY": ""}
	for name, value := range want {
		if got, ok := env.vars[name]; !ok || got != value {
			t.Errorf("%s=%q, want %q", name, got, value)
		}
	}
	if _, ok := env.vars["GAFFER_TEST_UNSET"]; ok || strings.Contains(env.raw, "s3cret") {
		t.Errorf("environment:\n%s", env.raw)
	}
}

func TestParseEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "JAVA_HOME=/opt/jdk,http_proxy", want: []string{"JAVA_HOME=/opt/jdk", "http_proxy"}},
		{in: " A=1 , B ,, _C9=x=y ", want: []string{"A=1", "B", "_C9=x=y"}},
		{in: "A=", want: []string{"A="}},
		{in: "=x", wantErr: `"=x": want NAME=value or NAME`},
		{in: "9A=1", wantErr: `"9A=1": want NAME=value or NAME`},
		{in: "A-B=1", wantErr: `"A-B=1": want NAME=value or NAME`},
	}
	for _, tt := range tests {
		got, err := localexec.ParseEnv(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseEnv(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

type environ struct {
	raw  string
	vars map[string]string
}

// runEnv runs `env` on local with e.
func runEnv(t *testing.T, e *localexec.Executor) environ {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if r := e.Exec(context.Background(), local, gaffer.ExecSpec{Command: "env"}, &stdout, &stderr); r != (gaffer.Result{}) {
		t.Fatalf("env: %+v, stderr %q", r, stderr.String())
	}
	env := environ{raw: stdout.String(), vars: map[string]string{}}
	for line := range strings.Lines(env.raw) {
		if name, value, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "="); ok {
			env.vars[name] = value
		}
	}
	return env
}
