package followsh

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gaffer-dev/gaffer"
)

// slot is one file a session's script follows.
type slot struct {
	path, id string
	off      int64  // end of the last complete line passed on
	recv     int64  // end of the bytes received
	held     []byte // a line without its newline yet: bytes off to recv
}

// frame turns one frame of the script into events.
func (f *follower) frame(slots map[int]*slot, fr followFrame) error {
	s := slots[fr.slot]
	if s == nil && strings.IndexByte("DTRXM", fr.kind) >= 0 {
		return fmt.Errorf("follow script: frame %c for slot %d, which it did not open", fr.kind, fr.slot)
	}
	switch fr.kind {
	case 'O':
		if s != nil {
			return fmt.Errorf("follow script: slot %d opened twice", fr.slot)
		}
		s = &slot{path: fr.path, id: fr.id, off: fr.off, recv: fr.off}
		slots[fr.slot] = s
		// The path has a file again, and the patterns match one: the
		// script says so again when they no longer do.
		delete(f.missing, s.path)
		for _, p := range f.spec.Paths {
			delete(f.missing, p)
		}
		return f.send(gaffer.FollowEvent{Kind: gaffer.FollowOpened, Path: s.path, FileID: s.id, Offset: s.off, Reason: fr.word})
	case 'D':
		if fr.off != s.recv {
			return fmt.Errorf("follow script: bytes of %s at %d, expected at %d", s.path, fr.off, s.recv)
		}
		delete(f.missing, s.path)
		s.recv += int64(len(fr.data))
		s.held = append(s.held, fr.data...)
		return f.ready(s)
	case 'T':
		if err := f.flush(s); err != nil {
			return err
		}
		s.off, s.recv = 0, 0
		return f.send(gaffer.FollowEvent{Kind: gaffer.FollowTruncated, Path: s.path, FileID: s.id,
			Message: fmt.Sprintf("truncated to %d bytes: reading it again from its start", fr.off)})
	case 'R':
		return f.send(gaffer.FollowEvent{Kind: gaffer.FollowRotated, Path: s.path, FileID: s.id, Offset: s.recv,
			Message: "renamed to " + fr.path + ": reading it to its end"})
	case 'X':
		if err := f.flush(s); err != nil {
			return err
		}
		delete(slots, fr.slot)
		msg := "read to its end"
		if fr.word == "gone" {
			msg = "deleted or renamed out of sight: lines written to it after " + strconv.FormatInt(s.recv, 10) + " bytes are not read"
		}
		return f.send(gaffer.FollowEvent{Kind: gaffer.FollowDone, Path: s.path, FileID: s.id, Offset: s.off, Reason: fr.word, Message: msg})
	case 'M':
		return f.missingPath(s.path, s.id, "no file at this path")
	case 'Z':
		if fr.slot < 1 || fr.slot > len(f.spec.Paths) {
			return fmt.Errorf("follow script: pattern %d out of range", fr.slot)
		}
		return f.missingPath(f.spec.Paths[fr.slot-1], "", "no file matches")
	case 'E':
		return f.send(gaffer.FollowEvent{Kind: gaffer.FollowError, Message: fr.path})
	}
	return nil
}

func (f *follower) missingPath(path, id, msg string) error {
	if f.missing[path] {
		return nil
	}
	if f.missing == nil {
		f.missing = map[string]bool{}
	}
	f.missing[path] = true
	return f.send(gaffer.FollowEvent{Kind: gaffer.FollowMissing, Path: path, FileID: id, Message: msg})
}

// lines passes on the first n held bytes of s.
func (f *follower) lines(s *slot, n int) error {
	data := slices.Clone(s.held[:n])
	s.held = append(s.held[:0], s.held[n:]...)
	ev := gaffer.FollowEvent{Kind: gaffer.FollowLines, Path: s.path, FileID: s.id, Offset: s.off, End: s.off + int64(n), Data: data}
	s.off += int64(n)
	return f.send(ev)
}

// ready passes on what of s.held is ready: complete lines, and pieces of
// MaxFollowLine of a longer line, whether its newline came or not.
func (f *follower) ready(s *slot) error {
	n := 0 // held[:n]: complete lines of at most MaxFollowLine bytes
	for {
		rest := s.held[n:]
		i := bytes.IndexByte(rest, '\n')
		if i >= 0 && i < gaffer.MaxFollowLine {
			n += i + 1
			continue
		}
		if i < 0 && len(rest) < gaffer.MaxFollowLine {
			break // the start of a line: held until its newline
		}
		if n > 0 {
			if err := f.lines(s, n); err != nil {
				return err
			}
			n = 0
		}
		if err := f.lines(s, gaffer.MaxFollowLine); err != nil {
			return err
		}
	}
	if n > 0 {
		return f.lines(s, n)
	}
	return nil
}

// flush passes on a last line without its newline: the file will not
// grow after it (rotated, truncated).
func (f *follower) flush(s *slot) error {
	if len(s.held) == 0 {
		return nil
	}
	return f.lines(s, len(s.held))
}
