package main

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// --local-env reaches the executor of the host local; a bad entry is
// refused with the flag's name.
func TestServeLocalEnv(t *testing.T) {
	t.Parallel()
	if _, err := parseServeFlags([]string{"--local-env", "A=1,9x"}, io.Discard); err == nil || !strings.Contains(err.Error(), `"9x": want NAME=value or NAME`) {
		t.Errorf("bad --local-env: %v", err)
	}
	c, err := parseServeFlags([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", testToken,
		"--ssh-config", "", "--local-env", "EXTRA=a b,PASSED"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(c, io.Discard, slog.New(slog.DiscardHandler))
	defer m.Close()
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"EXTRA=a b", "PASSED"}; !slices.Equal(m.Local.Env, want) {
		t.Errorf("local executor's Env = %q, want %q", m.Local.Env, want)
	}
}
