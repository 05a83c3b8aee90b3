package foreman

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// TestAdvance: stored positions move past the run's lines archived after
// them, file by file, or stay as they are (saying why) when the records
// cannot say which file they came from.
func TestAdvance(t *testing.T) {
	pos := func(offs ...any) []gaffer.FilePosition {
		var out []gaffer.FilePosition
		for i := 0; i < len(offs); i += 3 {
			out = append(out, gaffer.FilePosition{Path: offs[i].(string), FileID: offs[i+1].(string), Offset: int64(offs[i+2].(int))})
		}
		return out
	}
	ln := func(host, file, text string, nl bool) gaffer.Record {
		return gaffer.Record{Host: host, Stream: gaffer.Stdout, File: file, Data: []byte(text), NL: nl}
	}
	sys := func(host, text string) gaffer.Record {
		return gaffer.Record{Host: host, Stream: gaffer.System, Data: []byte(text), NL: true}
	}
	two := pos("/a", "1:1", 10, "/b", "1:2", 100)
	tests := []struct {
		name   string
		pos    []gaffer.FilePosition
		recs   []gaffer.Record
		masked bool
		want   []gaffer.FilePosition
		why    string // a part of the reason; "" when advanced
	}{
		{"nothing after", two, nil, false, two, ""},
		{"lines of both files", two, []gaffer.Record{ln("h", "/a", "one", true), ln("h", "/b", "", true), ln("h", "/a", "three", true)},
			false, pos("/a", "1:1", 10+4+6, "/b", "1:2", 101), ""},
		{"a piece without its newline", two, []gaffer.Record{ln("h", "/a", strings.Repeat("x", 70), false), ln("h", "/a", "y", true)},
			false, pos("/a", "1:1", 10+70+2, "/b", "1:2", 100), ""},
		{"other hosts' records", two, []gaffer.Record{ln("g", "/a", "one", true), sys("g", "/a rotated: renamed to /a.1"), sys("", "alerts to … failing")},
			false, two, ""},
		{"away and back", two, []gaffer.Record{ln("h", "/a", "1", true), sys("h", "h unreachable since 12:00:00 UTC: EOF; retrying"),
			sys("h", "h still unreachable (since 12:00:00 UTC): refused; retrying"), sys("h", "h back after 3s: following again where each file stood"),
			ln("h", "/a", "2", true)}, false, pos("/a", "1:1", 14, "/b", "1:2", 100), ""},
		{"rotated after", two, []gaffer.Record{ln("h", "/a", "1", true), sys("h", "/a rotated: renamed to /a.1: reading it to its end"), ln("h", "/a", "2", true)},
			false, two, "rotated"},
		{"truncated after", two, []gaffer.Record{sys("h", "/a was truncated: reading it again from its start"), ln("h", "/a", "2", true)},
			false, two, "truncated"},
		{"a new file", two, []gaffer.Record{ln("h", "/a", "1", true), ln("h", "/c", "new", true)}, false, two, "/c was not followed yet"},
		{"two files under one path", pos("/a", "1:1", 10, "/a", "1:3", 0), []gaffer.Record{ln("h", "/a", "1", true)}, false,
			pos("/a", "1:1", 10, "/a", "1:3", 0), "two files"},
		{"a masked secret", two, []gaffer.Record{ln("h", "/a", "pw=***", true)}, true, two, "masked"},
		{"masking but none masked", two, []gaffer.Record{ln("h", "/a", "pw=x", true)}, true, pos("/a", "1:1", 15, "/b", "1:2", 100), ""},
		{"*** without masking", two, []gaffer.Record{ln("h", "/a", "***", true)}, false, pos("/a", "1:1", 14, "/b", "1:2", 100), ""},
		{"a stderr record", two, []gaffer.Record{{Host: "h", Stream: gaffer.Stderr, Data: []byte("x")}}, false, two, "stderr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored := fmt.Sprint(tt.pos)
			got, why := advance("h", tt.pos, tt.recs, tt.masked)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("positions %v, want %v", got, tt.want)
			}
			if tt.why == "" && why != "" || tt.why != "" && !strings.Contains(why, tt.why) {
				t.Errorf("why %q, want %q", why, tt.why)
			}
			if fmt.Sprint(tt.pos) != stored {
				t.Errorf("the stored positions changed: %v", tt.pos)
			}
		})
	}
}
