package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The usage mistakes of the two commands are caught before any request.
func TestHostKeyCLIUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"hosts", "approve"}, 2, "usage: gaffer hosts approve NAME"},
		{[]string{"hosts", "approve", "a", "b"}, 2, "one host name"},
		{[]string{"hosts", "keys", "web-1"}, 2, "--host web-1"},
	} {
		var out, errOut bytes.Buffer
		code := exitCode(run(context.Background(), tt.args, &out, &errOut), &errOut)
		if code != tt.code || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%v: code %d, stderr %q; want %d, %q", tt.args, code, errOut.String(), tt.code, tt.want)
		}
	}
}
