package gaffer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// FollowSpec says which files of a host to follow (a follow job's
// "follow" and "from").
type FollowSpec struct {
	// Paths are file paths or shell globs, expanded on the host and again
	// every poll, so a file that appears later is followed from its start.
	// Absolute paths are best: relative ones are relative to the login's
	// home directory.
	Paths []string
	// FromStart follows the files that exist when following begins from
	// their first byte instead of their end. It matters only for a first
	// start: with Positions, files not in them are new and followed from
	// their start.
	FromStart bool
	// Positions resume an earlier follow (after a server restart): each
	// file continues at its byte offset. Empty for a new follow.
	Positions []FilePosition
}

// maxFollowPaths bounds what one follow asks a host to poll.
const maxFollowPaths = 100

// Validate checks what the host cannot: paths a shell script can carry.
func (s *FollowSpec) Validate() error {
	if len(s.Paths) == 0 {
		return Errorf(EINVALID, "follow: give at least one file path or glob")
	}
	if len(s.Paths) > maxFollowPaths {
		return Errorf(EINVALID, "follow: %d paths given; at most %d are allowed", len(s.Paths), maxFollowPaths)
	}
	for _, p := range s.Paths {
		if strings.TrimSpace(p) == "" {
			return Errorf(EINVALID, "follow: a path is empty")
		}
		if strings.ContainsAny(p, "\n\x00") {
			return Errorf(EINVALID, "follow: path %q contains a newline or NUL byte", p)
		}
	}
	for _, p := range s.Positions {
		if p.Path == "" || strings.ContainsAny(p.Path, "\n\x00") || p.Offset < 0 || !validFileID(p.FileID) {
			return Errorf(EINVALID, "follow: bad position %+v", p)
		}
	}
	return nil
}

// validFileID accepts "<device>:<inode>" as stat prints them in decimal.
func validFileID(id string) bool {
	dev, ino, ok := strings.Cut(id, ":")
	digits := func(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
	return ok && digits(dev) && digits(ino)
}

// FilePosition is how far one file has been read: the byte just after the
// last complete line passed on.
type FilePosition struct {
	// Path is the name the file is followed under (a path matched by the
	// spec), also after it was renamed by a rotation.
	Path string `json:"path"`
	// FileID tells the file apart from another later at the same path:
	// "<device>:<inode>".
	FileID string `json:"file_id"`
	Offset int64  `json:"offset"`
}

// FollowState is how a follow job's run is doing on its host, for the
// page and the API (Run.Follow).
type FollowState struct {
	// State: "connecting", "following", "reconnecting" (Since when,
	// Message why), or "stopped" once the run ended.
	State   string      `json:"state"`
	Since   *time.Time  `json:"since,omitempty"`
	Message string      `json:"message,omitempty"`
	Files   []FileState `json:"files"`
	// Positions are where each file stands, to resume after a restart;
	// never sent to clients.
	Positions []FilePosition `json:"-"`
	// Seq is the job log's last seq when Positions were taken: the run's
	// records up to it are what they cover, and its later ones (after a
	// crash, the archive may hold some) are read past on resuming.
	Seq int64 `json:"-"`
	// JobSecrets: the job had secrets of its own, masked in its output and
	// never stored, so a restarted server cannot resume it.
	JobSecrets bool `json:"-"`
}

// Follow states of a run and of its files.
const (
	FollowConnecting   = "connecting"
	FollowFollowing    = "following"
	FollowReconnecting = "reconnecting"
	FollowStopped      = "stopped" // the run ended
	FileFollowing      = "following"
	FileMissing        = "missing" // no file at the path (or none matches the glob)
	FileRotated        = "rotated" // renamed; being read to its end
	FileError          = "error"   // cannot be read (Message)
)

// FileState is one followed path on one host.
type FileState struct {
	Path    string    `json:"path"`
	State   string    `json:"state"`
	Since   time.Time `json:"since"`
	Message string    `json:"message,omitempty"`
}

// FollowEventKind says what a FollowEvent reports.
type FollowEventKind string

const (
	// FollowLines: Data holds complete lines of one file, bytes Offset to
	// End. Lines longer than MaxFollowLine arrive in pieces, and the last
	// bytes of a file that was rotated or truncated without a final
	// newline arrive as they are: then Data does not end in "\n".
	FollowLines FollowEventKind = "lines"
	// FollowOpened: a file is followed from Offset. Reason: "start" (there
	// when following began), "new" (appeared later), "rotated" (a new file
	// at the path of one renamed away), "recreated" (at the path of one
	// deleted), "resumed" (continued from a position).
	FollowOpened FollowEventKind = "opened"
	// FollowRotated: the file at Path was renamed (to Message's name); it
	// is read to its end, then FollowDone.
	FollowRotated FollowEventKind = "rotated"
	// FollowTruncated: the file shrank below what was read; it is read
	// again from its start.
	FollowTruncated FollowEventKind = "truncated"
	// FollowMissing: no file at Path (or nothing matches the glob Path).
	// The follow goes on: a file that appears there is followed.
	FollowMissing FollowEventKind = "missing"
	// FollowDone: this file (Path, FileID) will not be read any more: a
	// rotated file read to its end, or one deleted or rotated away
	// unseen (Reason "gone": what was not read of it is lost).
	FollowDone FollowEventKind = "done"
	// FollowAway: the host is unreachable since Since; Message says why.
	// Sent when the connection is lost and when the error changes while
	// retrying.
	FollowAway FollowEventKind = "away"
	// FollowBack: following again after Away (how long the host was away).
	FollowBack FollowEventKind = "back"
	// FollowError: something on the host the follow goes on despite,
	// e.g. a file that cannot be read.
	FollowError FollowEventKind = "error"
)

// MaxFollowLine is the longest line a follower holds back waiting for its
// newline; a longer one is passed on in pieces of this size.
const MaxFollowLine = 64 << 10

// FollowEvent is one thing a Follower reports for one host.
type FollowEvent struct {
	Kind   FollowEventKind
	Time   time.Time
	Path   string // the file (or glob, for FollowMissing)
	FileID string // "<device>:<inode>"; empty for Missing of a glob, Away, Back
	// Offset is where Data starts (FollowLines), or where reading starts
	// (FollowOpened); End is the byte after Data: the resume point.
	Offset, End int64
	Data        []byte
	Reason      string
	Message     string
	Since       time.Time     // FollowAway
	Away        time.Duration // FollowBack
}

// Follower follows files on a host until ctx ends, calling emit for each
// event in order, never concurrently. An error from emit ends Follow with
// that error. A lost connection is not an error: Follow reports Away,
// retries with backoff and resumes. It returns ctx's error when ctx ends.
//
// Exactly once: each byte of a followed file is passed on in exactly one
// FollowLines event, across reconnects. Only complete lines are passed on;
// a last line without its newline is held until the newline comes (or the
// file is rotated or truncated, or the line reaches MaxFollowLine). An
// event's End is the position to resume at: a caller that stores the
// positions (FollowPositions) after emit returns and passes them in
// FollowSpec.Positions after a restart loses and repeats nothing.
type Follower interface {
	Follow(ctx context.Context, host *Host, spec FollowSpec, emit func(FollowEvent) error) error
}

// FollowPositions tracks where each file of a follow stands, from the
// events, to resume it: Follower implementations and their callers keep
// positions the same way.
type FollowPositions struct {
	list []FilePosition
}

// NewFollowPositions starts from earlier positions (nil for none).
func NewFollowPositions(from []FilePosition) *FollowPositions {
	return &FollowPositions{list: slices.Clone(from)}
}

func (p *FollowPositions) find(path, id string) int {
	return slices.IndexFunc(p.list, func(f FilePosition) bool { return f.Path == path && f.FileID == id })
}

func (p *FollowPositions) set(path, id string, off int64) {
	if i := p.find(path, id); i >= 0 {
		p.list[i].Offset = off
		return
	}
	p.list = append(p.list, FilePosition{Path: path, FileID: id, Offset: off})
}

// Apply takes one event into account.
func (p *FollowPositions) Apply(ev FollowEvent) {
	switch ev.Kind {
	case FollowOpened:
		p.set(ev.Path, ev.FileID, ev.Offset)
	case FollowLines:
		p.set(ev.Path, ev.FileID, ev.End)
	case FollowTruncated:
		p.set(ev.Path, ev.FileID, 0)
	case FollowDone:
		if i := p.find(ev.Path, ev.FileID); i >= 0 {
			p.list = slices.Delete(p.list, i, i+1)
		}
	}
}

// List returns the positions to resume at.
func (p *FollowPositions) List() []FilePosition { return slices.Clone(p.list) }

// String describes an event briefly, for logs and test failures.
func (ev FollowEvent) String() string {
	switch ev.Kind {
	case FollowLines:
		return fmt.Sprintf("%s %s@%s [%d,%d) %q", ev.Kind, ev.Path, ev.FileID, ev.Offset, ev.End, ev.Data)
	case FollowAway, FollowBack:
		return fmt.Sprintf("%s since %s (%s) %s", ev.Kind, ev.Since.Format(time.RFC3339), ev.Away, ev.Message)
	}
	return fmt.Sprintf("%s %s@%s %d %s %s", ev.Kind, ev.Path, ev.FileID, ev.Offset, ev.Reason, ev.Message)
}
