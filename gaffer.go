// Package gaffer holds the domain of the Gaffer server: jobs, runs, hosts, log
// records and the interfaces that the adapter packages implement. It imports
// only the standard library.
package gaffer

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"time"
	"unsafe"
)

// Status is the state of a job or of one run.
type Status string

const (
	StatusQueued      Status = "queued"
	StatusRunning     Status = "running"
	StatusSucceeded   Status = "succeeded"
	StatusFailed      Status = "failed"
	StatusCanceled    Status = "canceled"
	StatusTimedOut    Status = "timed_out"
	StatusInterrupted Status = "interrupted"
)

// Done reports whether s is a final status.
func (s Status) Done() bool {
	switch s {
	case StatusQueued, StatusRunning:
		return false
	}
	return true
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusQueued, StatusRunning, StatusSucceeded, StatusFailed,
		StatusCanceled, StatusTimedOut, StatusInterrupted:
		return true
	}
	return false
}

// Job is one command run on one or more hosts.
type Job struct {
	ID          int64      `json:"id"`
	Command     string     `json:"command"`
	Status      Status     `json:"status"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	Timeout     Duration   `json:"timeout,omitempty"`
	PTY         bool       `json:"pty"`
	Concurrency int        `json:"concurrency,omitempty"`
	// Owner names the server instance that runs the job.
	Owner string `json:"owner,omitempty"`
	Runs  []*Run `json:"runs"`

	// A follow job's files (its Command is FollowCommand of them) and
	// where it started reading them ("end" or "start").
	Follow []string `json:"follow,omitempty"`
	From   string   `json:"from,omitempty"`
	// Retain and Alerts as requested (webhooks shown redacted).
	Retain string      `json:"retain,omitempty"`
	Alerts []AlertRule `json:"alerts,omitempty"`
	// Webhooks is how the alerts' webhooks are doing, while the job runs
	// on this instance (not stored).
	Webhooks []WebhookState `json:"webhooks,omitempty"`
}

// Run is the execution of a job's command on one host.
type Run struct {
	Host       string     `json:"host"`
	Status     Status     `json:"status"`
	ExitCode   *int       `json:"exit_code"`
	Signal     string     `json:"signal,omitempty"`
	Error      string     `json:"error"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// Follow is the state of a follow job's run: its connection and files.
	Follow *FollowState `json:"follow,omitempty"`
}

// DeriveStatus computes a job's status from its runs: running while any run
// is not done; otherwise the most serious outcome among the runs.
func DeriveStatus(runs []*Run) Status {
	if len(runs) == 0 {
		return StatusQueued
	}
	queued, active := 0, 0
	rank := map[Status]int{StatusSucceeded: 0, StatusFailed: 1, StatusTimedOut: 2, StatusCanceled: 3, StatusInterrupted: 4}
	worst := StatusSucceeded
	for _, r := range runs {
		switch r.Status {
		case StatusQueued:
			queued++
		case StatusRunning:
			active++
		default:
			if rank[r.Status] > rank[worst] {
				worst = r.Status
			}
		}
	}
	if queued == len(runs) {
		return StatusQueued
	} else if queued+active > 0 {
		return StatusRunning
	}
	return worst
}

// Duration is a time.Duration that reads and writes JSON as "10m".
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errorf(EINVALID, "timeout must be a string like \"10m\" or \"30s\"")
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return Errorf(EINVALID, "timeout %q is not a duration like \"10m\" or \"30s\"", s)
	}
	*d = Duration(v)
	return nil
}

// Host is a machine jobs can run on. IdentityFile is never sent to clients.
type Host struct {
	Name         string            `json:"name"`
	Address      string            `json:"address"`
	Port         int               `json:"port"`
	User         string            `json:"user"`
	IdentityFile string            `json:"-"`
	Labels       map[string]string `json:"labels"`
	// Local hosts run commands on the server itself with /bin/sh -c.
	Local bool `json:"local,omitempty"`
	// Jump is the route to the host, as OpenSSH's ProxyJump: the hosts to
	// connect through, first hop first; none for a direct connection. The
	// inventory resolves it; each jump host's own Jump is empty. Not sent
	// to clients: it holds the jump hosts' identity files.
	Jump []Host `json:"-"`
}

// Stream names where a record's bytes came from.
type Stream string

const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
	System Stream = "system"
)

// Record is one numbered entry of a job's log: one line (or part of a long
// or unfinished line) of one stream of one host.
type Record struct {
	Seq    int64
	TS     time.Time
	Host   string
	Stream Stream
	// Data holds the exact bytes, without the trailing newline.
	Data []byte
	// NL is true when the line ended with "\n" (Data does not hold it).
	NL bool
	// File is the followed file the line was read from (follow jobs);
	// empty for a command's output.
	File string
	// Alert marks a record that matched one of the job's alert patterns.
	Alert bool
}

type recordJSON struct {
	Seq    int64     `json:"seq"`
	TS     time.Time `json:"ts"`
	Host   string    `json:"host"`
	Stream Stream    `json:"stream"`
	File   string    `json:"file"`
	Text   string    `json:"text"`
	NL     bool      `json:"nl"`
	Alert  bool      `json:"alert"`
}

// MarshalJSON writes the record as the API shows it: text with invalid UTF-8
// replaced by U+FFFD. The raw log keeps the exact bytes.
func (r Record) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

func (r *Record) UnmarshalJSON(b []byte) error {
	var v recordJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Record{Seq: v.Seq, TS: v.TS, Host: v.Host, Stream: v.Stream, Data: []byte(v.Text), NL: v.NL, File: v.File, Alert: v.Alert}
	return nil
}

// Text is the record's data as valid UTF-8 (invalid bytes as U+FFFD).
func (r *Record) Text() string { return strings.ToValidUTF8(string(r.Data), "\uFFFD") }

// Size is an estimate of the memory a record holds, for buffer limits.
func (r *Record) Size() int { return RecordSize(len(r.Data), len(r.File)) }

// RecordSize is the Size of a record of data bytes and a file name of file
// bytes, for a reader that counts records it has not made yet.
func RecordSize(data, file int) int { return data + file + recordOverhead }

// recordOverhead is about the Record itself, in Size.
const recordOverhead = 96

// ReadRoom is how many records of about size bytes of data and file name
// one read holds (MaxReadBytes, by Size), and a few more: the room to make
// for a read's records at once, rather than growing the slice as it fills.
func ReadRoom(size int) int { return MaxReadBytes/(size+recordOverhead) + 8 }

// SameSource reports whether r and o come from the same host, stream and
// file. The records of one batch share those strings, so the usual answer
// costs pointer comparisons rather than string comparisons: sinks that
// group a batch by source ask it of every record.
func (r *Record) SameSource(o *Record) bool {
	if unsafe.StringData(r.Host) == unsafe.StringData(o.Host) && len(r.Host) == len(o.Host) &&
		unsafe.StringData(string(r.Stream)) == unsafe.StringData(string(o.Stream)) && len(r.Stream) == len(o.Stream) &&
		unsafe.StringData(r.File) == unsafe.StringData(o.File) && len(r.File) == len(o.File) {
		return true
	}
	return r.Host == o.Host && r.Stream == o.Stream && r.File == o.File
}

// MaxReadBytes bounds one read of a log (LiveLog.Read, Archive.Read) by
// bytes as well as by count: a read stops once the Size of its records adds
// up to this. What a viewer holds while its connection is slow is one read,
// so thousands of viewers stay cheap whatever the lines' lengths.
const MaxReadBytes = 64 << 10

// JobFilter selects jobs for listing, newest first.
type JobFilter struct {
	Status Status // "" for any
	Host   string // "" for any
	Before int64  // only ids below this; 0 for no bound
	Limit  int    // 0 for the store's default (50)
}

// JobStore keeps jobs and their runs (SQLite, PostgreSQL).
type JobStore interface {
	// CreateJob assigns job.ID and stores the job with its runs.
	CreateJob(ctx context.Context, job *Job) error
	// FindJob returns ENOTFOUND if there is no such job.
	FindJob(ctx context.Context, id int64) (*Job, error)
	FindJobs(ctx context.Context, filter JobFilter) ([]*Job, error)
	// UpdateJob stores the job's status, started and finished times.
	UpdateJob(ctx context.Context, job *Job) error
	// UpdateRun stores one run's status, exit code, signal, error and times.
	UpdateRun(ctx context.Context, jobID int64, run *Run) error
	// InterruptUnfinished marks every queued or running job and run as
	// interrupted with the given reason and returns the ids of those jobs.
	InterruptUnfinished(ctx context.Context, reason string) ([]int64, error)

	// Several server instances share one store. Each job has an Owner (set
	// at CreateJob); owners send heartbeats, and any instance interrupts the
	// jobs of an owner that went silent.

	// Heartbeat records that instance owner is alive at now, and returns the
	// ids of its unfinished jobs whose cancel was requested.
	Heartbeat(ctx context.Context, owner string, now time.Time) (cancel []int64, err error)
	// RequestCancel asks the owner of an unfinished job to cancel it:
	// ENOTFOUND if there is no such job, ECONFLICT if it is finished.
	RequestCancel(ctx context.Context, id int64) error
	// InterruptStale marks unfinished jobs whose owner has sent no heartbeat
	// since before (or never did, for jobs created before it) as interrupted,
	// with their unfinished runs, setting each such run's error to reason
	// when empty. It returns the ids of those jobs.
	InterruptStale(ctx context.Context, before time.Time, reason string) ([]int64, error)
	// DeleteFinished deletes, with their runs, up to limit finished jobs
	// (never a queued or running one) that finished before olderThan
	// (unless it is zero) or are not among the keepNewest finished jobs
	// with the highest ids (unless keepNewest <= 0): the oldest ids first.
	// It returns the ids it deleted, ascending. Instances sweeping at once
	// each report a job at most once between them.
	DeleteFinished(ctx context.Context, olderThan time.Time, keepNewest, limit int) ([]int64, error)
	Close() error
}

// LiveLog holds the recent part of running jobs' logs and wakes readers when
// records arrive. Records come numbered (the job's single writer assigns seq).
// Appending never waits for readers.
type LiveLog interface {
	// Create starts an empty live log for a job.
	Create(ctx context.Context, jobID int64) error
	// Append adds records with consecutive seqs. The first normally comes
	// right after the last one appended; the job's writer may also skip
	// ahead (it dropped records it could not append in time; they are in
	// the archive): the buffer then drops what it holds and goes on from
	// there, and reads of the skipped seqs get ETRIMMED.
	Append(ctx context.Context, jobID int64, recs []Record) error
	// Read returns up to limit records with seq > after, oldest first, and
	// whether the log is closed and nothing after these records remains.
	// It stops early once the records' Size adds up to MaxReadBytes, and
	// returns at least one record when there is one after `after`.
	// It returns a *TrimmedError (code ETRIMMED) if records after `after`
	// were already dropped from the buffer (they are in the archive, unless
	// it failed), ENOTFOUND if it has no such job.
	Read(ctx context.Context, jobID int64, after int64, limit int) (recs []Record, end bool, err error)
	// Wait blocks until a record with seq > after exists, the log is closed,
	// the live log is deleted, or ctx is done.
	Wait(ctx context.Context, jobID int64, after int64) error
	// Close marks the log complete: no more appends, readers see the end.
	Close(ctx context.Context, jobID int64) error
	// Delete drops the job's buffer (its log is in the archive by then).
	Delete(ctx context.Context, jobID int64) error
}

// InProcessLiveLog is a LiveLog held in the server's own memory: its
// Append copies the records and never waits on I/O, so a job's writer calls
// it in line rather than queueing copies for a goroutine to append; nor
// does its Read, which readers call without a timeout.
type InProcessLiveLog interface {
	LiveLog
	InProcess()
}

// ReaderInto is an Archive or a LiveLog whose reads can fill the caller's
// memory. A viewer reads a log a batch at a time; a slice of a thousand
// records made for each read (zeroed, then collected) was a fifth of its
// CPU, and a fresh copy of each read's bytes most of the rest.
type ReaderInto interface {
	// ReadInto is Read into buf: the records go to buf.Recs[:0], their
	// Data to buf.Data[:0], each grown as needed and kept in buf for the
	// next read. What buf held is overwritten: the caller is done with the
	// records of its last read and their data.
	ReadInto(ctx context.Context, jobID int64, after int64, limit int, buf *ReadBuffer) (recs []Record, end bool, err error)
}

// Archive stores whole job logs durably and reads any range of them by seq.
type Archive interface {
	// Create opens a job's log for writing. A log that is never Completed
	// stays readable as it is (e.g. after a crash).
	Create(ctx context.Context, jobID int64) (ArchiveWriter, error)
	// Read returns up to limit records with seq > after, oldest first, and
	// whether the log is complete and holds nothing after them. Like
	// LiveLog.Read, it stops once the records' Size adds up to MaxReadBytes,
	// and returns at least one record when there is one.
	// ENOTFOUND if the archive has nothing for the job.
	Read(ctx context.Context, jobID int64, after int64, limit int) (recs []Record, end bool, err error)
	// Raw writes the exact bytes one host wrote to one stream.
	Raw(ctx context.Context, jobID int64, host string, stream Stream, w io.Writer) error
	// The range reads, time lookup, summary and search of any part of a log.
	LogReader
}

// ArchiveWriter appends to one job's archived log. Records written are
// readable through Archive.Read as soon as Write returns.
type ArchiveWriter interface {
	Write(recs []Record) error
	// Sync makes everything written so far durable.
	Sync() error
	// Complete makes the log durable and marks it complete, atomically.
	Complete() error
	// Close releases the writer without marking the log complete.
	Close() error
}

// ExecSpec is what an executor runs.
type ExecSpec struct {
	Command string
	PTY     bool
	// Env are variables the command gets on top of its usual environment
	// (a job's secrets).
	Env map[string]string
}

// Result is how a command ended. ExitCode is -1 when there is none
// (killed by a signal, or the connection was lost).
type Result struct {
	ExitCode int
	Signal   string // e.g. "KILL" when killed by a signal
	// Err is set when the command could not be started or the exit status is
	// unknown (connection lost); its message is fit for a person.
	Err error
}

// Executor runs a command on a host, writing its output to stdout and stderr
// as it arrives. Cancelling ctx stops the command on the host.
type Executor interface {
	Exec(ctx context.Context, host *Host, spec ExecSpec, stdout, stderr io.Writer) Result
}
