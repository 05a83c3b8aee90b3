package main

import (
	"fmt"
	"strings"
	"testing"
)

// parseAge never accepts an age of zero or less, and its errors quote the value.
func FuzzParseAge(f *testing.F) {
	for _, s := range []string{"30d", "12h", "1h30m", "-1d", "1.5d", "d", "", "999999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseAge(s)
		if err == nil && d <= 0 {
			t.Fatalf("parseAge(%q) = %v without an error", s, d)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
			t.Fatalf("parseAge(%q): error %q does not quote the value", s, err)
		}
	})
}
