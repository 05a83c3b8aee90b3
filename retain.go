package gaffer

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Retention bounds the history a long job keeps (its "retain"): the log's
// oldest part goes once the log holds more than Bytes, or is older than
// Age. Seq numbers keep counting; reads of what went start at what is left.
type Retention struct {
	Bytes int64         // 0: no bound by size
	Age   time.Duration // 0: no bound by age
}

// Zero reports whether r keeps everything.
func (r Retention) Zero() bool { return r.Bytes == 0 && r.Age == 0 }

// Retention limits.
const (
	MinRetainBytes = 1 << 20
	MinRetainAge   = time.Minute
)

// ParseRetention reads a job's "retain": a size ("1GB", "500MB", "64MiB";
// units B, KB, MB, GB, TB and KiB…TiB, KB = 1000 B) or an age ("7d", "12h",
// "90m"). "" keeps everything.
func ParseRetention(s string) (Retention, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Retention{}, nil
	}
	bad := Errorf(EINVALID, "retain %q is neither a size (\"1GB\", \"500MB\") nor an age (\"7d\", \"12h\")", s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return Retention{}, bad
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || n <= 0 {
		return Retention{}, bad
	}
	unit := strings.TrimSpace(s[i:])
	sizes := map[string]float64{"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
	ages := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}
	if m, ok := sizes[strings.ToLower(unit)]; ok {
		r := Retention{Bytes: int64(n * m)}
		if r.Bytes < MinRetainBytes {
			return Retention{}, Errorf(EINVALID, "retain %q is below the smallest window, 1MiB", s)
		}
		return r, nil
	}
	if d, ok := ages[unit]; ok {
		r := Retention{Age: time.Duration(n * float64(d))}
		if r.Age < MinRetainAge {
			return Retention{}, Errorf(EINVALID, "retain %q is below the shortest window, 1m", s)
		}
		return r, nil
	}
	return Retention{}, bad
}

// ArchiveTrimmer is an ArchiveWriter that can drop the oldest part of its
// log (Retention): whole chunks at a time, never a record in the middle,
// keeping at least what Retention says. It returns the seq of the oldest
// record left (0 if none was dropped ever).
type ArchiveTrimmer interface {
	Trim(keep Retention, now time.Time) (first int64, err error)
}

// ArchiveRetainer is an Archive that can write a log meant to be trimmed:
// its writer (an ArchiveTrimmer) keeps the log in chunks that can go whole.
// A log created with a zero Retention is written as Create writes it.
type ArchiveRetainer interface {
	CreateRetained(ctx context.Context, jobID int64, keep Retention) (ArchiveWriter, error)
}
