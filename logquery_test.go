package gaffer

import (
	"strings"
	"testing"
)

func TestSearchQueryCompile(t *testing.T) {
	tests := []struct {
		name    string
		q       SearchQuery
		match   []string
		nomatch []string
		err     string // part of the error message; "" for none
	}{
		{name: "substring, any case", q: SearchQuery{Pattern: "Error"}, match: []string{"an ERROR here", "error"}, nomatch: []string{"err or"}},
		{name: "substring, case", q: SearchQuery{Pattern: "Error", Case: true}, match: []string{"Error!"}, nomatch: []string{"error"}},
		{name: "substring is not a pattern", q: SearchQuery{Pattern: "a.b(c"}, match: []string{"xa.b(cx"}, nomatch: []string{"aXb(c"}},
		{name: "regex", q: SearchQuery{Pattern: `^GET /\d+`, Regex: true}, match: []string{"get /12 x"}, nomatch: []string{" GET /1"}},
		{name: "empty", q: SearchQuery{}, err: "q is empty"},
		{name: "too long", q: SearchQuery{Pattern: strings.Repeat("x", MaxPattern+1)}, err: "the limit is 4096"},
		// The message shows the pattern as the user wrote it, not with the
		// flags the server adds.
		{name: "bad regex, any case", q: SearchQuery{Pattern: "a(", Regex: true}, err: "q is not a valid regular expression (RE2 syntax): missing closing ): `a(`"},
		{name: "bad regex, case", q: SearchQuery{Pattern: "x**", Regex: true, Case: true}, err: "invalid nested repetition operator: `**`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re, err := tt.q.Compile()
			if tt.err != "" {
				if err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "(?i)") {
					t.Fatalf("Compile() error = %v, want EINVALID with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.match {
				if !re.MatchString(s) {
					t.Errorf("%q does not match %q", tt.q.Pattern, s)
				}
			}
			for _, s := range tt.nomatch {
				if re.MatchString(s) {
					t.Errorf("%q matches %q", tt.q.Pattern, s)
				}
			}
		})
	}
}
