package followsh

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

func TestFollowParser(t *testing.T) {
	const start = "GAFFER-FOLLOW 1 n0nce\n"
	tests := []struct {
		name    string
		in      string
		want    []followFrame
		wantErr string // "" for io.EOF at the end
	}{
		{name: "start-up output before the start line is skipped",
			in:   "motd\nD 1 0 5\nGAFFER-FOLLOW 1 other\n" + start + "Y\nH\n",
			want: []followFrame{{kind: 'Y'}, {kind: 'H'}}},
		{name: "open and data",
			in: start + "O 3 2049:77 10 start /var/log/a b.log\nD 3 10 4\nab\ncR 3 /var/log/a b.log.1\nX 3 drained\n",
			want: []followFrame{
				{kind: 'O', slot: 3, id: "2049:77", off: 10, word: "start", path: "/var/log/a b.log"},
				{kind: 'D', slot: 3, off: 10, data: []byte("ab\nc")},
				{kind: 'R', slot: 3, path: "/var/log/a b.log.1"},
				{kind: 'X', slot: 3, word: "drained"},
			}},
		{name: "data may hold anything",
			in:   start + "D 1 0 7\nY\nD 1\x00\xffT 1 0\nM 1\nZ 2\nE cannot read\n",
			want: []followFrame{{kind: 'D', slot: 1, data: []byte("Y\nD 1\x00\xff")}, {kind: 'T', slot: 1}, {kind: 'M', slot: 1}, {kind: 'Z', slot: 2}, {kind: 'E', path: "cannot read"}}},
		{name: "short data", in: start + "D 1 0 10\nabc", wantErr: io.ErrUnexpectedEOF.Error()},
		{name: "unknown frame", in: start + "Q 1\n", wantErr: `unexpected line "Q 1"`},
		{name: "negative offset", in: start + "D 1 -1 3\nabc", wantErr: "unexpected line"},
		{name: "huge chunk", in: start + "D 1 0 99999999\n", wantErr: "unexpected line"},
		{name: "bad file id", in: start + "O 1 x:1 0 start /a\n", wantErr: "unexpected line"},
		{name: "line cut short", in: start + "Y", wantErr: io.ErrUnexpectedEOF.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFollowParser(strings.NewReader(tt.in), "n0nce")
			var got []followFrame
			var err error
			for {
				var f followFrame
				if f, err = p.next(); err != nil {
					break
				}
				got = append(got, f)
			}
			if tt.wantErr == "" && !errors.Is(err, io.EOF) || tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("frames %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if !sameFrame(got[i], tt.want[i]) {
					t.Errorf("frame %d: %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func sameFrame(a, b followFrame) bool {
	return a.kind == b.kind && a.slot == b.slot && a.id == b.id && a.off == b.off &&
		a.word == b.word && a.path == b.path && bytes.Equal(a.data, b.data)
}

// Whatever the host sends, the parser neither panics nor returns data of
// another length than announced, and stops at the end of its input.
func FuzzFollowParser(f *testing.F) {
	f.Add([]byte("GAFFER-FOLLOW 1 n\nO 1 1:2 0 start /a\nD 1 0 3\nab\nY\nH\nT 1 0\nR 1 /b\nX 1 gone\nM 1\nZ 1\nE x\n"))
	f.Add([]byte("GAFFER-FOLLOW 1 n\nD 1 0 1"))
	f.Add([]byte("noise\nGAFFER-FOLLOW 1 n\nD 999999999 999999999999999999 1048576\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p := newFollowParser(bytes.NewReader(in), "n")
		for i := 0; ; i++ {
			fr, err := p.next()
			if err != nil {
				return
			}
			if i > len(in) {
				t.Fatalf("more frames than input bytes")
			}
			if fr.kind == 'D' && (len(fr.data) == 0 || len(fr.data) > maxFollowChunk) {
				t.Fatalf("data frame of %d bytes", len(fr.data))
			}
			if fr.slot < 0 || fr.off < 0 {
				t.Fatalf("negative number in %+v", fr)
			}
		}
	})
}

// The bytes of a file, however the host cuts them into chunks, come out
// of the follower once each, in order, in events that start where the
// last ended and hold complete lines of at most MaxFollowLine bytes (or
// pieces of that size), the last line flushed when the file is done.
func FuzzFollowLines(f *testing.F) {
	f.Add([]byte("one\ntwo\nthree"), []byte{3, 5, 1})
	f.Add(bytes.Repeat([]byte("x"), gaffer.MaxFollowLine*2+3), []byte{255, 255})
	f.Add([]byte("\n\n\n"), []byte{1, 1, 1})
	f.Add(append(bytes.Repeat([]byte("y"), gaffer.MaxFollowLine+10), "\nz\n"...), []byte{})
	f.Fuzz(func(t *testing.T, content []byte, cuts []byte) {
		var evs []gaffer.FollowEvent
		fl := &follower{emit: func(ev gaffer.FollowEvent) error { evs = append(evs, ev); return nil }, pos: gaffer.NewFollowPositions(nil)}
		slots := map[int]*slot{}
		const start = 7
		must := func(fr followFrame) {
			if err := fl.frame(slots, fr); err != nil {
				t.Fatal(err)
			}
		}
		must(followFrame{kind: 'O', slot: 1, id: "1:2", off: start, word: "start", path: "/a"})
		off := 0
		for i := 0; off < len(content); i++ {
			n := len(content) - off
			if i < len(cuts) {
				n = min(n, int(cuts[i])*257+1)
			}
			must(followFrame{kind: 'D', slot: 1, off: int64(start + off), data: content[off : off+n]})
			off += n
		}
		must(followFrame{kind: 'X', slot: 1, word: "drained"})

		var got []byte
		at := int64(start)
		for i, ev := range evs {
			if ev.Kind != gaffer.FollowLines {
				continue
			}
			if ev.Offset != at || ev.End != at+int64(len(ev.Data)) || len(ev.Data) == 0 {
				t.Fatalf("event %d: %s, want it from %d", i, ev, at)
			}
			last := i == len(evs)-2 // before the done event
			if !last && !bytes.HasSuffix(ev.Data, []byte("\n")) && len(ev.Data) != gaffer.MaxFollowLine {
				t.Fatalf("event %d holds an incomplete line: %s", i, ev)
			}
			for _, line := range bytes.SplitAfter(ev.Data, []byte("\n")) {
				if len(line) > gaffer.MaxFollowLine {
					t.Fatalf("event %d holds a line of %d bytes", i, len(line))
				}
			}
			at = ev.End
			got = append(got, ev.Data...)
		}
		if !bytes.Equal(got, content) {
			t.Fatalf("lines %q, want %q", got, content)
		}
		if len(fl.pos.List()) != 0 {
			t.Fatalf("positions left after the file is done: %+v", fl.pos.List())
		}
	})
}

// The script's inputs reach it unchanged, whatever a path holds.
func TestFollowCommandQuotes(t *testing.T) {
	path := `/a b/it's "x" $HOME \ *.log`
	f := &follower{spec: gaffer.FollowSpec{Paths: []string{path}}, pos: gaffer.NewFollowPositions(nil)}
	cmd := f.command("n")
	header := cmd[:strings.Index(cmd, script)]
	for _, sh := range []string{"/bin/dash", "/bin/bash"} {
		out, err := exec.Command(sh, "-c", header+`printf '%s|%s' "$GF_NPAT" "$GF_PAT_1"`).Output()
		if err != nil {
			t.Fatal(err)
		}
		if want := "1|" + path; string(out) != want {
			t.Errorf("%s: %q, want %q", sh, out, want)
		}
	}
}

// A glob that matches nothing is reported missing each time it becomes
// so, not only the first time; a path once, however many frames say so.
func TestFollowMissingReported(t *testing.T) {
	var evs []gaffer.FollowEvent
	fl := &follower{spec: gaffer.FollowSpec{Paths: []string{"/l/*.log"}}, pos: gaffer.NewFollowPositions(nil),
		emit: func(ev gaffer.FollowEvent) error { evs = append(evs, ev); return nil }}
	slots := map[int]*slot{}
	for _, fr := range []followFrame{
		{kind: 'Z', slot: 1},
		{kind: 'O', slot: 1, id: "1:2", word: "new", path: "/l/a.log"},
		{kind: 'M', slot: 1},
		{kind: 'Z', slot: 1},
		{kind: 'M', slot: 1},
	} {
		if err := fl.frame(slots, fr); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, ev := range evs {
		if ev.Kind == gaffer.FollowMissing {
			got = append(got, ev.Path)
		}
	}
	if want := []string{"/l/*.log", "/l/a.log", "/l/*.log"}; !slices.Equal(got, want) {
		t.Errorf("missing reported for %q, want %q", got, want)
	}
}
