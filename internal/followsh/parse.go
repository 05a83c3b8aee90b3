package followsh

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// followFrame is one message of the follow script (follow_script.sh says
// what each kind means).
type followFrame struct {
	kind byte // 'O', 'D', 'T', 'R', 'X', 'M', 'Z', 'E', 'Y', 'H'
	slot int  // O D T R X M; the pattern's number (from 1) for Z
	id   string
	off  int64 // O D; the new size for T
	word string
	path string // O; the new name for R; the text for E
	data []byte // D
}

// maxFollowChunk bounds a D frame: the script reads at most 256 KiB per
// file per round; more means the stream is not the script's.
const maxFollowChunk = 1 << 20

// maxFollowHeader bounds a header line (paths included).
const maxFollowHeader = 16 << 10

// followParser reads the follow script's output.
type followParser struct {
	r     *bufio.Reader
	nonce string
	begun bool
}

func newFollowParser(r io.Reader, nonce string) *followParser {
	return &followParser{r: bufio.NewReaderSize(r, 64<<10), nonce: nonce}
}

// next returns the next frame. Before the script's start line, lines are
// the login shell's start-up output and skipped. An error other than
// io.EOF means the stream is not what the script writes.
func (p *followParser) next() (followFrame, error) {
	for {
		line, err := p.line()
		if err != nil {
			return followFrame{}, err
		}
		if !p.begun {
			if line == "GAFFER-FOLLOW 1 "+p.nonce {
				p.begun = true
			}
			continue
		}
		return p.parse(line)
	}
}

// line reads one header line without its "\n".
func (p *followParser) line() (string, error) {
	var b []byte
	for {
		chunk, err := p.r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxFollowHeader {
			if !p.begun {
				// Start-up output: drop what we have, keep looking.
				b = b[:0]
				if err == nil {
					continue
				}
			} else {
				return "", fmt.Errorf("follow script: header line longer than %d bytes", maxFollowHeader)
			}
		}
		switch {
		case err == nil:
			return string(b[:len(b)-1]), nil
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(b) > 0:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

func (p *followParser) parse(line string) (followFrame, error) {
	bad := func() (followFrame, error) {
		if len(line) > 80 {
			line = line[:80] + "…"
		}
		return followFrame{}, fmt.Errorf("follow script: unexpected line %q", line)
	}
	if len(line) == 0 {
		return bad()
	}
	f := followFrame{kind: line[0]}
	rest := ""
	if len(line) > 1 {
		if line[1] != ' ' {
			return bad()
		}
		rest = line[2:]
	}
	// fields splits off n space-separated words; the last holds the rest.
	fields := func(n int) []string { return strings.SplitN(rest, " ", n) }
	var ok bool
	switch f.kind {
	case 'Y', 'H':
		if rest != "" {
			return bad()
		}
		return f, nil
	case 'E':
		f.path = rest
		return f, nil
	case 'O':
		w := fields(5)
		if len(w) != 5 || w[4] == "" {
			return bad()
		}
		if f.slot, ok = num(w[0]); !ok {
			return bad()
		}
		if f.off, ok = num64(w[2]); !ok || !validID(w[1]) || w[3] == "" {
			return bad()
		}
		f.id, f.word, f.path = w[1], w[3], w[4]
		return f, nil
	case 'D':
		w := fields(3)
		if len(w) != 3 {
			return bad()
		}
		n, ok2 := num(w[2])
		if f.slot, ok = num(w[0]); !ok || !ok2 || n == 0 || n > maxFollowChunk {
			return bad()
		}
		if f.off, ok = num64(w[1]); !ok {
			return bad()
		}
		f.data = make([]byte, n)
		if _, err := io.ReadFull(p.r, f.data); err != nil {
			return followFrame{}, io.ErrUnexpectedEOF
		}
		return f, nil
	case 'T':
		w := fields(2)
		if len(w) != 2 {
			return bad()
		}
		if f.slot, ok = num(w[0]); !ok {
			return bad()
		}
		if f.off, ok = num64(w[1]); !ok {
			return bad()
		}
		return f, nil
	case 'R', 'X':
		w := fields(2)
		if len(w) != 2 || w[1] == "" {
			return bad()
		}
		if f.slot, ok = num(w[0]); !ok {
			return bad()
		}
		if f.kind == 'R' {
			f.path = w[1]
		} else {
			f.word = w[1]
		}
		return f, nil
	case 'M', 'Z':
		if f.slot, ok = num(rest); !ok {
			return bad()
		}
		return f, nil
	}
	return bad()
}

// num parses a decimal the script printed: digits only, no sign.
func num(s string) (int, bool) {
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func num64(s string) (int64, bool) {
	if s == "" || len(s) > 18 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// validID accepts stat's "%d:%i": decimal device and inode.
func validID(s string) bool {
	dev, ino, ok := strings.Cut(s, ":")
	_, ok1 := num64(dev)
	_, ok2 := num64(ino)
	return ok && ok1 && ok2
}
