package bench

import (
	"fmt"
	"testing"
)

// ingestCheck passes the lines 1, 2, 3, … (zero-padded to its width) and
// fails a line missing, repeated, out of order or of the wrong width, also
// across the carries its counting up goes through.
func TestIngestCheck(t *testing.T) {
	lines := func(width int, nums ...int) []record {
		var recs []record
		for i, n := range nums {
			text := fmt.Sprint(n)
			if width > 0 {
				text = fmt.Sprintf("%0*d", width, n)
			}
			recs = append(recs, record{Seq: int64(i + 1), Stream: []byte("stdout"), Text: []byte(text)})
		}
		return recs
	}
	upTo := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = i + 1
		}
		return s
	}
	tests := []struct {
		name  string
		width int
		recs  []record
		fails bool
	}{
		{"1 to 10001", 0, lines(0, upTo(10001)...), false},
		{"1 to 1200, 200 wide", 200, lines(200, upTo(1200)...), false},
		{"one missing", 0, lines(0, 1, 2, 3, 5, 6), true},
		{"one twice", 0, lines(0, 1, 2, 2, 3), true},
		{"repeated across a carry", 0, lines(0, append(upTo(99), 99, 100)...), true},
		{"out of order", 0, lines(0, 1, 3, 2), true},
		{"too narrow", 5, lines(4, 1, 2), true},
		{"padding not zeros", 4, []record{{Seq: 1, Stream: []byte("stdout"), Text: []byte("a001")}}, true},
		{"a leading zero", 0, []record{{Seq: 1, Stream: []byte("stdout"), Text: []byte("01")}}, false},
		{"a seq gap", 0, []record{{Seq: 1, Stream: []byte("stdout"), Text: []byte("1")}, {Seq: 3, Stream: []byte("stdout"), Text: []byte("2")}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &ingestCheck{next: 1, width: tt.width}
			for _, r := range tt.recs {
				v.add(r)
			}
			if failed := v.nerrs > 0; failed != tt.fails {
				t.Errorf("failed %v (%s), want %v", failed, v.problems(), tt.fails)
			}
			if !tt.fails && v.stdout != int64(len(tt.recs)) {
				t.Errorf("%d stdout lines counted of %d", v.stdout, len(tt.recs))
			}
		})
	}
}
