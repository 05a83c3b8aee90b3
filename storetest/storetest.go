// Package storetest is the contract every gaffer.JobStore must meet. A store
// package runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) gaffer.JobStore { return MustOpenDB(t) })
//	}
//
// The suite uses only the JobStore interface and text a PostgreSQL store can
// hold (no NUL bytes).
package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// Run runs the contract suite. Each call to open must return a fresh, empty
// store, and close it when the test ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	t.Run("CreateJob", func(t *testing.T) { testCreateJob(t, open) })
	t.Run("FindJob", func(t *testing.T) { testFindJob(t, open) })
	t.Run("FindJobs", func(t *testing.T) { testFindJobs(t, open) })
	t.Run("UpdateJob", func(t *testing.T) { testUpdateJob(t, open) })
	t.Run("UpdateRun", func(t *testing.T) { testUpdateRun(t, open) })
	t.Run("InterruptUnfinished", func(t *testing.T) { testInterruptUnfinished(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("Heartbeat", func(t *testing.T) { testHeartbeat(t, open) })
	t.Run("RequestCancel", func(t *testing.T) { testRequestCancel(t, open) })
	t.Run("InterruptStale", func(t *testing.T) { testInterruptStale(t, open) })
	t.Run("DeleteFinished", func(t *testing.T) { testDeleteFinished(t, open) })
	t.Run("Follow", func(t *testing.T) { testFollow(t, open) })
}

// T0 is a time with every nanosecond digit set, in a zone that is not UTC,
// so that a store that rounds or keeps the zone shows up.
var T0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("IST", 5*3600+1800))

// At returns a pointer to T0 plus d.
func At(d time.Duration) *time.Time {
	t := T0.Add(d)
	return &t
}

// Int returns a pointer to v.
func Int(v int) *int { return &v }

func testCreateJob(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	t.Run("RoundTrip", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			job  gaffer.Job
		}{
			{
				name: "Minimal",
				job:  gaffer.Job{Command: "true", Status: gaffer.StatusQueued, CreatedAt: T0},
			},
			{
				name: "AllFields",
				job: gaffer.Job{
					Command:     "for i in 1 2 3; do echo \"$i\"; done\nuptime",
					Status:      gaffer.StatusFailed,
					CreatedBy:   "admin",
					CreatedAt:   T0,
					StartedAt:   At(time.Second + 1),
					FinishedAt:  At(time.Minute + 999999999),
					Timeout:     gaffer.Duration(90*time.Second + 1),
					PTY:         true,
					Concurrency: 5,
					Owner:       "gaffer-2.internal:8080/7f3a9c",
					Runs: []*gaffer.Run{
						// Not in name order: runs keep the order given.
						{Host: "zeta", Status: gaffer.StatusSucceeded, ExitCode: Int(0),
							StartedAt: At(2 * time.Second), FinishedAt: At(3*time.Second + 7)},
						{Host: "alpha", Status: gaffer.StatusFailed, ExitCode: Int(-1), Signal: "KILL",
							Error: "connection lost", StartedAt: At(4), FinishedAt: At(5)},
						{Host: "mid", Status: gaffer.StatusFailed, ExitCode: Int(2),
							StartedAt: At(6)},
						{Host: "queued-one", Status: gaffer.StatusQueued},
						{Host: "down", Status: gaffer.StatusFailed,
							Error: "dial tcp 127.0.0.9:22: connect: connection refused", FinishedAt: At(8)},
					},
				},
			},
			{
				name: "Unicode",
				job: gaffer.Job{
					Command:   "echo 'héllo wörld ✓ 日本語 🚀' | tr -d \"'\" \\\t# ; DROP TABLE jobs; --",
					Status:    gaffer.StatusRunning,
					CreatedBy: "Zoë 🦊",
					CreatedAt: T0.UTC(),
					Owner:     "sérveur ✓ 'b'; --",
					StartedAt: At(0),
					Runs: []*gaffer.Run{
						{Host: "hôte-ünï", Status: gaffer.StatusRunning, StartedAt: At(0)},
						{Host: "db1", Status: gaffer.StatusCanceled, Signal: "TERM",
							Error: "annulé par l’utilisateur «admin»", FinishedAt: At(1)},
					},
				},
			},
			{
				name: "EveryStatus",
				job: gaffer.Job{
					Command: "x", Status: gaffer.StatusInterrupted, CreatedAt: T0,
					Runs: []*gaffer.Run{
						{Host: "a", Status: gaffer.StatusQueued},
						{Host: "b", Status: gaffer.StatusRunning},
						{Host: "c", Status: gaffer.StatusSucceeded},
						{Host: "d", Status: gaffer.StatusFailed},
						{Host: "e", Status: gaffer.StatusCanceled},
						{Host: "f", Status: gaffer.StatusTimedOut},
						{Host: "g", Status: gaffer.StatusInterrupted},
					},
				},
			},
		} {
			t.Run(tt.name, func(t *testing.T) {
				assertRoundTrip(t, open(t), &tt.job)
			})
		}
	})

	t.Run("ZeroCreatedAt", func(t *testing.T) {
		s := open(t)
		before := time.Now()
		job := &gaffer.Job{Command: "true", Status: gaffer.StatusQueued}
		MustCreateJob(t, s, job)
		if job.CreatedAt.IsZero() {
			t.Fatal("CreatedAt is still zero after CreateJob")
		}
		got := MustFindJob(t, s, job.ID)
		assertUTC(t, "CreatedAt", got.CreatedAt)
		if !got.CreatedAt.Equal(job.CreatedAt) {
			t.Fatalf("stored CreatedAt %v, job was given %v", got.CreatedAt, job.CreatedAt)
		}
		// A second of slack for clocks coarser than time.Now's.
		if got.CreatedAt.Before(before.Add(-time.Second)) {
			t.Fatalf("CreatedAt %v is before the call at %v", got.CreatedAt, before)
		}
	})

	t.Run("IDsIncrease", func(t *testing.T) {
		s := open(t)
		var last int64
		for i := range 5 {
			job := &gaffer.Job{Command: fmt.Sprintf("echo %d", i), Status: gaffer.StatusQueued, CreatedAt: T0,
				Runs: []*gaffer.Run{{Host: "web1", Status: gaffer.StatusQueued}}}
			MustCreateJob(t, s, job)
			if job.ID <= last {
				t.Fatalf("job %d got ID %d, not above the previous %d", i, job.ID, last)
			}
			last = job.ID
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			job  gaffer.Job
		}{
			{"EmptyStatus", gaffer.Job{Command: "x", CreatedAt: T0}},
			{"UnknownStatus", gaffer.Job{Command: "x", Status: "paused", CreatedAt: T0}},
			{"UnknownRunStatus", gaffer.Job{Command: "x", Status: gaffer.StatusQueued, CreatedAt: T0,
				Runs: []*gaffer.Run{{Host: "a", Status: gaffer.StatusQueued}, {Host: "b", Status: "paused"}}}},
			{"EmptyHost", gaffer.Job{Command: "x", Status: gaffer.StatusQueued, CreatedAt: T0,
				Runs: []*gaffer.Run{{Host: "", Status: gaffer.StatusQueued}}}},
			{"DuplicateHost", gaffer.Job{Command: "x", Status: gaffer.StatusQueued, CreatedAt: T0,
				Runs: []*gaffer.Run{{Host: "a", Status: gaffer.StatusQueued}, {Host: "b", Status: gaffer.StatusQueued},
					{Host: "a", Status: gaffer.StatusQueued}}}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				job := cloneJob(&tt.job)
				err := s.CreateJob(t.Context(), job)
				if code := gaffer.ErrorCode(err); code != gaffer.EINVALID {
					t.Fatalf("CreateJob error = %v (code %q), want code %q", err, code, gaffer.EINVALID)
				}
				if job.ID != 0 {
					t.Fatalf("failed CreateJob set ID %d", job.ID)
				}
				// Nothing was stored, not even part of the job.
				if jobs := MustFindJobs(t, s, gaffer.JobFilter{}); len(jobs) != 0 {
					t.Fatalf("FindJobs after a failed CreateJob returned %d jobs", len(jobs))
				}
			})
		}
	})
}

func testFindJob(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	s := open(t)
	job := &gaffer.Job{Command: "true", Status: gaffer.StatusQueued, CreatedAt: T0}
	MustCreateJob(t, s, job)

	for _, id := range []int64{0, -1, job.ID + 1, 42} {
		t.Run(fmt.Sprint(id), func(t *testing.T) {
			got, err := s.FindJob(t.Context(), id)
			assertNotFound(t, err, fmt.Sprintf("job %d does not exist", id))
			if got != nil {
				t.Fatalf("FindJob(%d) returned a job with its error", id)
			}
		})
	}

	t.Run("NoRuns", func(t *testing.T) {
		got := MustFindJob(t, s, job.ID)
		// An empty list, not nil, so that JSON shows [] rather than null.
		if got.Runs == nil || len(got.Runs) != 0 {
			t.Fatalf("Runs = %#v, want an empty non-nil slice", got.Runs)
		}
	})
}

func testFindJobs(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	t.Run("Filters", func(t *testing.T) {
		s := open(t)
		// Jobs in creation order; ids are assigned increasing.
		seed := []*gaffer.Job{
			newJob(gaffer.StatusSucceeded, "web1", "web2"),   // 0
			newJob(gaffer.StatusFailed, "db1"),               // 1
			newJob(gaffer.StatusRunning, "web2", "db1"),      // 2
			newJob(gaffer.StatusSucceeded, "web1"),           // 3
			newJob(gaffer.StatusRunning, "web1"),             // 4
			newJob(gaffer.StatusQueued),                      // 5: no runs
			newJob(gaffer.StatusSucceeded, "db1", "web2"),    // 6
			newJob(gaffer.StatusFailed, "web2", "web1"),      // 7
			newJob(gaffer.StatusSucceeded, "web10", "web1x"), // 8: hosts that share a prefix with web1
		}
		for _, job := range seed {
			MustCreateJob(t, s, job)
		}
		id := func(i int) int64 { return seed[i].ID }

		for _, tt := range []struct {
			name   string
			filter gaffer.JobFilter
			want   []int // indexes into seed, in the expected order
		}{
			{"All", gaffer.JobFilter{}, []int{8, 7, 6, 5, 4, 3, 2, 1, 0}},
			{"Status", gaffer.JobFilter{Status: gaffer.StatusSucceeded}, []int{8, 6, 3, 0}},
			{"StatusQueued", gaffer.JobFilter{Status: gaffer.StatusQueued}, []int{5}},
			{"StatusNone", gaffer.JobFilter{Status: gaffer.StatusTimedOut}, []int{}},
			{"Host", gaffer.JobFilter{Host: "web1"}, []int{7, 4, 3, 0}},
			{"HostSecond", gaffer.JobFilter{Host: "db1"}, []int{6, 2, 1}},
			{"HostNone", gaffer.JobFilter{Host: "web"}, []int{}},
			{"StatusAndHost", gaffer.JobFilter{Status: gaffer.StatusSucceeded, Host: "web2"}, []int{6, 0}},
			{"Before", gaffer.JobFilter{Before: id(3)}, []int{2, 1, 0}},
			{"BeforeFirst", gaffer.JobFilter{Before: id(0)}, []int{}},
			{"BeforeAboveAll", gaffer.JobFilter{Before: id(8) + 100}, []int{8, 7, 6, 5, 4, 3, 2, 1, 0}},
			{"Limit", gaffer.JobFilter{Limit: 2}, []int{8, 7}},
			{"LimitOne", gaffer.JobFilter{Limit: 1}, []int{8}},
			{"BeforeAndLimit", gaffer.JobFilter{Before: id(7), Limit: 3}, []int{6, 5, 4}},
			{"HostBeforeLimit", gaffer.JobFilter{Host: "web1", Before: id(7), Limit: 2}, []int{4, 3}},
			{"AllFilters", gaffer.JobFilter{Status: gaffer.StatusRunning, Host: "web2", Before: id(4), Limit: 10}, []int{2}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got := MustFindJobs(t, s, tt.filter)
				if got == nil {
					t.Fatal("FindJobs returned nil, want a non-nil slice")
				}
				var gotIDs, wantIDs []int64
				for _, job := range got {
					gotIDs = append(gotIDs, job.ID)
				}
				for _, i := range tt.want {
					wantIDs = append(wantIDs, id(i))
				}
				if !slices.Equal(gotIDs, wantIDs) {
					t.Fatalf("FindJobs(%+v) ids = %v, want %v", tt.filter, gotIDs, wantIDs)
				}
				// Every job comes whole, with all its runs in order, even
				// when the filter matched one host.
				for k, job := range got {
					AssertJobEqual(t, job, seed[tt.want[k]])
				}
			})
		}
	})

	t.Run("InvalidStatus", func(t *testing.T) {
		s := open(t)
		_, err := s.FindJobs(t.Context(), gaffer.JobFilter{Status: "paused"})
		if code := gaffer.ErrorCode(err); code != gaffer.EINVALID {
			t.Fatalf("FindJobs error = %v (code %q), want code %q", err, code, gaffer.EINVALID)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		got := MustFindJobs(t, s, gaffer.JobFilter{})
		if got == nil || len(got) != 0 {
			t.Fatalf("FindJobs on an empty store = %#v, want an empty non-nil slice", got)
		}
	})

	t.Run("LimitBounds", func(t *testing.T) {
		s := open(t)
		const n = 1005
		var ids []int64
		for i := range n {
			job := &gaffer.Job{Command: fmt.Sprintf("echo %d", i), Status: gaffer.StatusSucceeded, CreatedAt: T0}
			MustCreateJob(t, s, job)
			ids = append(ids, job.ID)
		}
		slices.Reverse(ids)
		for _, tt := range []struct {
			limit, want int
		}{
			{0, 50},  // the default
			{-1, 50}, // also the default
			{1000, 1000},
			{1001, 1000}, // capped
			{5000, 1000},
		} {
			t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
				got := MustFindJobs(t, s, gaffer.JobFilter{Limit: tt.limit})
				if len(got) != tt.want {
					t.Fatalf("FindJobs(Limit: %d) returned %d jobs, want %d", tt.limit, len(got), tt.want)
				}
				for i, job := range got {
					if job.ID != ids[i] {
						t.Fatalf("job %d has ID %d, want %d (newest first)", i, job.ID, ids[i])
					}
				}
			})
		}
	})
}

func testUpdateJob(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	t.Run("Lifecycle", func(t *testing.T) {
		s := open(t)
		job := newJob(gaffer.StatusQueued, "web1", "web2")
		job.CreatedBy, job.Timeout, job.PTY, job.Concurrency = "admin", gaffer.Duration(time.Minute), true, 1
		job.Owner = "gaffer-1"
		MustCreateJob(t, s, job)
		other := newJob(gaffer.StatusQueued, "web1")
		MustCreateJob(t, s, other)
		want := cloneJob(job)

		for _, step := range []struct {
			name                string
			status              gaffer.Status
			startedAt, finished *time.Time
		}{
			{"Running", gaffer.StatusRunning, At(time.Second), nil},
			{"Succeeded", gaffer.StatusSucceeded, At(time.Second), At(time.Hour + 1)},
			{"TimesCleared", gaffer.StatusFailed, nil, nil},
			{"OtherZone", gaffer.StatusCanceled, At(1), ptr(T0.In(time.FixedZone("PDT", -7*3600)).Add(2))},
		} {
			t.Run(step.name, func(t *testing.T) {
				// Only status and times are stored; other fields in the
				// update are ignored.
				update := &gaffer.Job{ID: job.ID, Command: "changed", CreatedBy: "someone else", Owner: "gaffer-2",
					Status: step.status, StartedAt: step.startedAt, FinishedAt: step.finished}
				if err := s.UpdateJob(t.Context(), update); err != nil {
					t.Fatalf("UpdateJob: %v", err)
				}
				want.Status, want.StartedAt, want.FinishedAt = step.status, step.startedAt, step.finished
				AssertJobEqual(t, MustFindJob(t, s, job.ID), want)
			})
		}
		// The other job is untouched.
		AssertJobEqual(t, MustFindJob(t, s, other.ID), other)
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		job := newJob(gaffer.StatusQueued, "web1")
		MustCreateJob(t, s, job)
		err := s.UpdateJob(t.Context(), &gaffer.Job{ID: job.ID + 1, Status: gaffer.StatusRunning})
		assertNotFound(t, err, fmt.Sprintf("job %d does not exist", job.ID+1))
		AssertJobEqual(t, MustFindJob(t, s, job.ID), job)
	})

	t.Run("InvalidStatus", func(t *testing.T) {
		s := open(t)
		job := newJob(gaffer.StatusQueued, "web1")
		MustCreateJob(t, s, job)
		for _, status := range []gaffer.Status{"", "paused"} {
			err := s.UpdateJob(t.Context(), &gaffer.Job{ID: job.ID, Status: status})
			if code := gaffer.ErrorCode(err); code != gaffer.EINVALID {
				t.Fatalf("UpdateJob(status %q) error = %v (code %q), want code %q", status, err, code, gaffer.EINVALID)
			}
		}
		AssertJobEqual(t, MustFindJob(t, s, job.ID), job)
	})
}

func testUpdateRun(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	t.Run("Lifecycle", func(t *testing.T) {
		s := open(t)
		job := newJob(gaffer.StatusRunning, "web1", "web2", "web3")
		MustCreateJob(t, s, job)
		other := newJob(gaffer.StatusRunning, "web2")
		MustCreateJob(t, s, other)
		want := cloneJob(job)

		for _, tt := range []struct {
			name string
			run  gaffer.Run
		}{
			{"Running", gaffer.Run{Host: "web2", Status: gaffer.StatusRunning, StartedAt: At(1)}},
			{"ExitZero", gaffer.Run{Host: "web2", Status: gaffer.StatusSucceeded, ExitCode: Int(0),
				StartedAt: At(1), FinishedAt: At(time.Second + 2)}},
			{"Signal", gaffer.Run{Host: "web1", Status: gaffer.StatusCanceled, ExitCode: Int(-1), Signal: "KILL",
				StartedAt: At(3), FinishedAt: At(4)}},
			{"Error", gaffer.Run{Host: "web3", Status: gaffer.StatusFailed,
				Error: "ssh: handshake failed: knownhosts: key mismatch", FinishedAt: At(5)}},
			{"ExitCodeCleared", gaffer.Run{Host: "web2", Status: gaffer.StatusInterrupted, Error: "server restarted ✗",
				StartedAt: At(1), FinishedAt: ptr(T0.In(time.FixedZone("PDT", -7*3600)).Add(6))}},
			{"Back", gaffer.Run{Host: "web1", Status: gaffer.StatusQueued}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				run := tt.run
				if err := s.UpdateRun(t.Context(), job.ID, &run); err != nil {
					t.Fatalf("UpdateRun: %v", err)
				}
				for i, r := range want.Runs {
					if r.Host == run.Host {
						want.Runs[i] = cloneRun(&run)
					}
				}
				// The job itself keeps its status: the caller updates it.
				AssertJobEqual(t, MustFindJob(t, s, job.ID), want)
			})
		}
		// A run on the same host in another job is untouched.
		AssertJobEqual(t, MustFindJob(t, s, other.ID), other)
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		job := newJob(gaffer.StatusRunning, "web1")
		MustCreateJob(t, s, job)
		for _, tt := range []struct {
			name  string
			jobID int64
			host  string
		}{
			{"Job", job.ID + 1, "web1"},
			{"Host", job.ID, "web2"},
			{"NoJob", 0, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				err := s.UpdateRun(t.Context(), tt.jobID, &gaffer.Run{Host: tt.host, Status: gaffer.StatusRunning})
				assertNotFound(t, err, "")
			})
		}
		AssertJobEqual(t, MustFindJob(t, s, job.ID), job)
	})

	t.Run("InvalidStatus", func(t *testing.T) {
		s := open(t)
		job := newJob(gaffer.StatusRunning, "web1")
		MustCreateJob(t, s, job)
		err := s.UpdateRun(t.Context(), job.ID, &gaffer.Run{Host: "web1", Status: "paused"})
		if code := gaffer.ErrorCode(err); code != gaffer.EINVALID {
			t.Fatalf("UpdateRun error = %v (code %q), want code %q", err, code, gaffer.EINVALID)
		}
		AssertJobEqual(t, MustFindJob(t, s, job.ID), job)
	})
}

func testInterruptUnfinished(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	const reason = "server restarted"

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		ids, err := s.InterruptUnfinished(t.Context(), reason)
		if err != nil {
			t.Fatalf("InterruptUnfinished: %v", err)
		} else if len(ids) != 0 {
			t.Fatalf("InterruptUnfinished on an empty store returned %v", ids)
		}
	})

	t.Run("OnlyUnfinished", func(t *testing.T) {
		s := open(t)
		queued := newJob(gaffer.StatusQueued, "web1", "web2")
		running := &gaffer.Job{Command: "sleep 100", Status: gaffer.StatusRunning, CreatedAt: T0, StartedAt: At(1),
			Runs: []*gaffer.Run{
				{Host: "done", Status: gaffer.StatusSucceeded, ExitCode: Int(0), StartedAt: At(1), FinishedAt: At(2)},
				{Host: "busy", Status: gaffer.StatusRunning, StartedAt: At(1)},
				{Host: "lost", Status: gaffer.StatusRunning, StartedAt: At(1), Error: "connection lost"},
				{Host: "waiting", Status: gaffer.StatusQueued},
			}}
		succeeded := &gaffer.Job{Command: "true", Status: gaffer.StatusSucceeded, CreatedAt: T0,
			StartedAt: At(1), FinishedAt: At(2),
			Runs: []*gaffer.Run{{Host: "web1", Status: gaffer.StatusSucceeded, ExitCode: Int(0), StartedAt: At(1), FinishedAt: At(2)}}}
		failed := &gaffer.Job{Command: "false", Status: gaffer.StatusFailed, CreatedAt: T0,
			StartedAt: At(1), FinishedAt: At(2),
			Runs: []*gaffer.Run{{Host: "web1", Status: gaffer.StatusFailed, ExitCode: Int(1), StartedAt: At(1), FinishedAt: At(2)}}}
		canceled := &gaffer.Job{Command: "sleep 5", Status: gaffer.StatusCanceled, CreatedAt: T0, FinishedAt: At(3),
			Runs: []*gaffer.Run{{Host: "web2", Status: gaffer.StatusCanceled, Signal: "TERM", FinishedAt: At(3)}}}
		for _, job := range []*gaffer.Job{succeeded, queued, failed, running, canceled} {
			MustCreateJob(t, s, job)
		}

		before := time.Now()
		ids, err := s.InterruptUnfinished(t.Context(), reason)
		if err != nil {
			t.Fatalf("InterruptUnfinished: %v", err)
		}
		slices.Sort(ids)
		if want := []int64{queued.ID, running.ID}; !slices.Equal(ids, want) {
			t.Fatalf("InterruptUnfinished returned %v, want %v", ids, want)
		}

		// Finished jobs and their runs are untouched.
		for _, job := range []*gaffer.Job{succeeded, failed, canceled} {
			AssertJobEqual(t, MustFindJob(t, s, job.ID), job)
		}

		// The store sets finished_at to its own clock: check it is a
		// sensible time and copy it into the expected job.
		finished := func(what string, got *time.Time) *time.Time {
			t.Helper()
			if got == nil {
				t.Fatalf("%s has no finished_at", what)
			}
			assertUTC(t, what+" finished_at", *got)
			if got.Before(before.Add(-time.Second)) {
				t.Fatalf("%s finished_at %v is before the call at %v", what, got, before)
			}
			return got
		}

		got := MustFindJob(t, s, queued.ID)
		want := cloneJob(queued)
		want.Status, want.FinishedAt = gaffer.StatusInterrupted, finished("queued job", got.FinishedAt)
		for i, r := range want.Runs {
			r.Status, r.Error = gaffer.StatusInterrupted, reason
			if i < len(got.Runs) {
				r.FinishedAt = finished("queued run "+r.Host, got.Runs[i].FinishedAt)
			}
		}
		AssertJobEqual(t, got, want)

		got = MustFindJob(t, s, running.ID)
		want = cloneJob(running)
		want.Status, want.FinishedAt = gaffer.StatusInterrupted, finished("running job", got.FinishedAt)
		for i, r := range want.Runs {
			if r.Status.Done() {
				continue // "done" stays as it was
			}
			r.Status = gaffer.StatusInterrupted
			if r.Error == "" {
				r.Error = reason // "lost" keeps its own error
			}
			if i < len(got.Runs) {
				r.FinishedAt = finished("running run "+r.Host, got.Runs[i].FinishedAt)
			}
		}
		AssertJobEqual(t, got, want)

		// Nothing is left to interrupt.
		snapshot := MustFindJobs(t, s, gaffer.JobFilter{})
		ids, err = s.InterruptUnfinished(t.Context(), "again")
		if err != nil {
			t.Fatalf("second InterruptUnfinished: %v", err)
		} else if len(ids) != 0 {
			t.Fatalf("second InterruptUnfinished returned %v, want none", ids)
		}
		after := MustFindJobs(t, s, gaffer.JobFilter{})
		for i := range snapshot {
			AssertJobEqual(t, after[i], snapshot[i])
		}
	})
}

func testConcurrency(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	t.Run("UpdateRun", func(t *testing.T) {
		s := open(t)
		const n = 20
		job := &gaffer.Job{Command: "uptime", Status: gaffer.StatusRunning, CreatedAt: T0}
		for i := range n {
			job.Runs = append(job.Runs, &gaffer.Run{Host: fmt.Sprintf("host-%02d", i), Status: gaffer.StatusRunning, StartedAt: At(0)})
		}
		MustCreateJob(t, s, job)

		want := cloneJob(job)
		for i, r := range want.Runs {
			r.Status, r.ExitCode, r.FinishedAt = gaffer.StatusFailed, Int(i), At(time.Duration(i))
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				// Each goroutine writes a few times, as a run does when it
				// starts, fails and is retried.
				for range 3 {
					if errs[i] = s.UpdateRun(t.Context(), job.ID, cloneRun(want.Runs[i])); errs[i] != nil {
						return
					}
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("UpdateRun of %s: %v", want.Runs[i].Host, err)
			}
		}
		AssertJobEqual(t, MustFindJob(t, s, job.ID), want)
	})

	// Interrupting while runs are written must wait its turn, not fail.
	t.Run("InterruptWhileUpdating", func(t *testing.T) {
		s := open(t)
		const n = 20
		job := &gaffer.Job{Command: "uptime", Status: gaffer.StatusRunning, CreatedAt: T0}
		for i := range n {
			job.Runs = append(job.Runs, &gaffer.Run{Host: fmt.Sprintf("host-%02d", i), Status: gaffer.StatusQueued})
		}
		MustCreateJob(t, s, job)

		errs := make([]error, 2*n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				run := &gaffer.Run{Host: job.Runs[i].Host, Status: gaffer.StatusRunning, StartedAt: At(time.Duration(i))}
				for range 3 {
					if errs[i] = s.UpdateRun(t.Context(), job.ID, run); errs[i] != nil {
						return
					}
				}
			})
			wg.Go(func() {
				_, errs[n+i] = s.InterruptUnfinished(t.Context(), "server restarted")
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}
		if got := MustFindJob(t, s, job.ID); got.Status != gaffer.StatusInterrupted {
			t.Fatalf("job status = %q, want %q", got.Status, gaffer.StatusInterrupted)
		}
	})

	t.Run("CreateJob", func(t *testing.T) {
		s := open(t)
		const n = 20
		jobs := make([]*gaffer.Job, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			jobs[i] = newJob(gaffer.StatusQueued, "web1", fmt.Sprintf("host-%02d", i))
			wg.Go(func() { errs[i] = s.CreateJob(t.Context(), jobs[i]) })
		}
		wg.Wait()
		seen := make(map[int64]bool)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("CreateJob %d: %v", i, err)
			} else if seen[jobs[i].ID] {
				t.Fatalf("ID %d assigned twice", jobs[i].ID)
			}
			seen[jobs[i].ID] = true
			AssertJobEqual(t, MustFindJob(t, s, jobs[i].ID), jobs[i])
		}
		if got := MustFindJobs(t, s, gaffer.JobFilter{Host: "web1"}); len(got) != n {
			t.Fatalf("FindJobs(Host: web1) returned %d jobs, want %d", len(got), n)
		}
	})
}

func testHeartbeat(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	t.Run("EmptyOwner", func(t *testing.T) {
		s := open(t)
		_, err := s.Heartbeat(t.Context(), "", T0)
		assertCode(t, err, gaffer.EINVALID, "")
	})

	t.Run("NoJobs", func(t *testing.T) {
		s := open(t)
		for range 2 {
			if ids := MustHeartbeat(t, s, "gaffer-1", T0); len(ids) != 0 {
				t.Fatalf("Heartbeat with no jobs returned %v", ids)
			}
		}
	})

	// A heartbeat returns the owner's unfinished jobs whose cancel was
	// requested, and no one else's.
	t.Run("Cancel", func(t *testing.T) {
		s := open(t)
		queued := ownedJob("gaffer-1", gaffer.StatusQueued, "web1")
		running := ownedJob("gaffer-1", gaffer.StatusRunning, "web1", "web2")
		notRequested := ownedJob("gaffer-1", gaffer.StatusRunning, "web1")
		finishedLater := ownedJob("gaffer-1", gaffer.StatusRunning, "web1")
		otherOwner := ownedJob("gaffer-2", gaffer.StatusRunning, "web1")
		prefixOwner := ownedJob("gaffer-10", gaffer.StatusRunning, "web1")
		noOwner := ownedJob("", gaffer.StatusQueued, "web1")
		for _, job := range []*gaffer.Job{queued, running, notRequested, finishedLater, otherOwner, prefixOwner, noOwner} {
			MustCreateJob(t, s, job)
		}
		// Requested newest first: heartbeats return ids ascending anyway.
		for _, job := range []*gaffer.Job{noOwner, prefixOwner, otherOwner, finishedLater, running, queued} {
			if err := s.RequestCancel(t.Context(), job.ID); err != nil {
				t.Fatalf("RequestCancel(%d): %v", job.ID, err)
			}
		}
		// A job that finishes after its cancel was requested is not
		// returned: there is nothing left to cancel.
		finishedLater.Status, finishedLater.FinishedAt = gaffer.StatusSucceeded, At(time.Second)
		if err := s.UpdateJob(t.Context(), finishedLater); err != nil {
			t.Fatal(err)
		}

		assertIDs(t, "Heartbeat(gaffer-1)", MustHeartbeat(t, s, "gaffer-1", T0), queued.ID, running.ID)
		assertIDs(t, "Heartbeat(gaffer-2)", MustHeartbeat(t, s, "gaffer-2", T0), otherOwner.ID)
		assertIDs(t, "Heartbeat(gaffer-3)", MustHeartbeat(t, s, "gaffer-3", T0))
		// The request stays until the job finishes: the owner may miss a
		// heartbeat's answer.
		assertIDs(t, "second Heartbeat(gaffer-1)", MustHeartbeat(t, s, "gaffer-1", *At(time.Second)), queued.ID, running.ID)

		// Requests and heartbeats change nothing a job shows.
		for _, job := range []*gaffer.Job{queued, running, notRequested, finishedLater, otherOwner, prefixOwner, noOwner} {
			AssertJobEqual(t, MustFindJob(t, s, job.ID), job)
		}

		running.Status, running.FinishedAt = gaffer.StatusCanceled, At(2*time.Second)
		if err := s.UpdateJob(t.Context(), running); err != nil {
			t.Fatal(err)
		}
		assertIDs(t, "Heartbeat(gaffer-1) after a cancel", MustHeartbeat(t, s, "gaffer-1", *At(2 * time.Second)), queued.ID)
	})
}

func testRequestCancel(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		job := ownedJob("gaffer-1", gaffer.StatusRunning, "web1")
		MustCreateJob(t, s, job)
		for _, id := range []int64{job.ID + 1, 0, -1} {
			err := s.RequestCancel(t.Context(), id)
			assertNotFound(t, err, fmt.Sprintf("job %d does not exist", id))
		}
		AssertJobEqual(t, MustFindJob(t, s, job.ID), job)
	})

	t.Run("Finished", func(t *testing.T) {
		for _, status := range []gaffer.Status{gaffer.StatusSucceeded, gaffer.StatusFailed,
			gaffer.StatusCanceled, gaffer.StatusTimedOut, gaffer.StatusInterrupted} {
			t.Run(string(status), func(t *testing.T) {
				s := open(t)
				job := ownedJob("gaffer-1", status, "web1")
				MustCreateJob(t, s, job)
				err := s.RequestCancel(t.Context(), job.ID)
				assertCode(t, err, gaffer.ECONFLICT, fmt.Sprintf("job %d is already %s", job.ID, status))
				AssertJobEqual(t, MustFindJob(t, s, job.ID), job)

				// A refused request leaves nothing behind, even if the job
				// were set running again.
				job.Status = gaffer.StatusRunning
				if err := s.UpdateJob(t.Context(), job); err != nil {
					t.Fatal(err)
				}
				assertIDs(t, "Heartbeat", MustHeartbeat(t, s, "gaffer-1", T0))
			})
		}
	})

	t.Run("Twice", func(t *testing.T) {
		s := open(t)
		job := ownedJob("gaffer-1", gaffer.StatusRunning, "web1")
		MustCreateJob(t, s, job)
		for range 2 {
			if err := s.RequestCancel(t.Context(), job.ID); err != nil {
				t.Fatalf("RequestCancel: %v", err)
			}
		}
		AssertJobEqual(t, MustFindJob(t, s, job.ID), job)
		assertIDs(t, "Heartbeat", MustHeartbeat(t, s, "gaffer-1", T0), job.ID)
	})
}

func testInterruptStale(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	const reason = "gaffer-1 stopped sending heartbeats"
	// Heartbeats since T0 count; jobs created before it by owners that never
	// sent one are stale.
	before := T0

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		MustHeartbeat(t, s, "gaffer-1", *At(-time.Hour))
		assertIDs(t, "InterruptStale", MustInterruptStale(t, s, before, reason))
	})

	t.Run("Owners", func(t *testing.T) {
		s := open(t)
		MustHeartbeat(t, s, "fresh", *At(time.Second))
		MustHeartbeat(t, s, "exact", before) // at the bound counts
		MustHeartbeat(t, s, "stale", *At(-1))
		MustHeartbeat(t, s, "revived", *At(-time.Hour))
		MustHeartbeat(t, s, "revived", *At(time.Minute))
		// A heartbeat that arrives late does not take back a later one.
		MustHeartbeat(t, s, "late", *At(time.Minute))
		MustHeartbeat(t, s, "late", *At(-time.Hour))

		old := *At(-time.Hour)
		// Kept: owners heard from since before, and jobs of owners never
		// heard from that are not older than before.
		kept := []*gaffer.Job{
			created(ownedJob("fresh", gaffer.StatusRunning, "web1", "web2"), old),
			created(ownedJob("exact", gaffer.StatusQueued, "web1"), old),
			created(ownedJob("revived", gaffer.StatusRunning, "web1"), old),
			created(ownedJob("late", gaffer.StatusRunning, "web1"), old),
			created(ownedJob("never", gaffer.StatusRunning, "web1"), *At(time.Second)),
			created(ownedJob("never", gaffer.StatusQueued, "web1"), before),
			// Finished jobs are left alone, whoever owns them.
			created(ownedJob("stale", gaffer.StatusSucceeded, "web1", "web2"), old),
			created(ownedJob("never", gaffer.StatusFailed, "web1"), old),
		}
		staleRunning := &gaffer.Job{Command: "sleep 100", Status: gaffer.StatusRunning, Owner: "stale",
			CreatedAt: old, StartedAt: At(1),
			Runs: []*gaffer.Run{
				{Host: "done", Status: gaffer.StatusSucceeded, ExitCode: Int(0), StartedAt: At(1), FinishedAt: At(2)},
				{Host: "busy", Status: gaffer.StatusRunning, StartedAt: At(1)},
				{Host: "lost", Status: gaffer.StatusRunning, StartedAt: At(1), Error: "connection lost"},
				{Host: "waiting", Status: gaffer.StatusQueued},
			}}
		interrupted := []*gaffer.Job{
			created(ownedJob("stale", gaffer.StatusQueued, "web1", "web2"), old),
			staleRunning,
			// An owner's silence counts, not the job's age.
			created(ownedJob("stale", gaffer.StatusRunning, "web1"), *At(time.Hour)),
			created(ownedJob("never", gaffer.StatusRunning, "web1"), *At(-1)),
			// Jobs from before owners were recorded have none.
			created(ownedJob("", gaffer.StatusQueued, "web1"), old),
		}
		// Interleaved, so that ids of kept and interrupted jobs alternate.
		for i := range max(len(kept), len(interrupted)) {
			if i < len(interrupted) {
				MustCreateJob(t, s, interrupted[i])
			}
			if i < len(kept) {
				MustCreateJob(t, s, kept[i])
			}
		}

		start := time.Now()
		ids := MustInterruptStale(t, s, before, reason)
		var want []int64
		for _, job := range interrupted {
			want = append(want, job.ID)
		}
		assertIDs(t, "InterruptStale", ids, want...)

		for _, job := range kept {
			AssertJobEqual(t, MustFindJob(t, s, job.ID), job)
		}
		for _, job := range interrupted {
			got := MustFindJob(t, s, job.ID)
			AssertJobEqual(t, got, interruptedJob(t, job, got, reason, start))
		}

		// Nothing is left to interrupt.
		snapshot := MustFindJobs(t, s, gaffer.JobFilter{})
		assertIDs(t, "second InterruptStale", MustInterruptStale(t, s, before, "again"))
		for i, job := range MustFindJobs(t, s, gaffer.JobFilter{}) {
			AssertJobEqual(t, job, snapshot[i])
		}

		// An owner that comes back finds its jobs finished: no cancel to
		// act on, and none can be requested.
		err := s.RequestCancel(t.Context(), staleRunning.ID)
		assertCode(t, err, gaffer.ECONFLICT, fmt.Sprintf("job %d is already interrupted", staleRunning.ID))
		assertIDs(t, "Heartbeat(stale)", MustHeartbeat(t, s, "stale", *At(time.Hour)))
	})

	// Instances sweeping at once interrupt each job once, while owners
	// send heartbeats.
	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		MustHeartbeat(t, s, "stale-a", *At(-time.Minute))
		MustHeartbeat(t, s, "stale-b", *At(-time.Minute))
		MustHeartbeat(t, s, "fresh", *At(time.Minute))
		MustHeartbeat(t, s, "revived", *At(-time.Minute))
		const perOwner = 10
		jobs := make(map[string][]*gaffer.Job)
		for range perOwner {
			for _, owner := range []string{"stale-a", "fresh", "never", "stale-b", "revived"} {
				job := created(ownedJob(owner, gaffer.StatusRunning, "web1", "web2"), *At(-time.Hour))
				MustCreateJob(t, s, job)
				jobs[owner] = append(jobs[owner], job)
			}
		}

		const n = 5
		results := make([][]int64, n)
		errs := make([]error, 2*n+1)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = s.InterruptStale(t.Context(), before, reason)
			})
			wg.Go(func() {
				for range 3 {
					if _, errs[n+i] = s.Heartbeat(t.Context(), "fresh", *At(time.Minute)); errs[n+i] != nil {
						return
					}
				}
			})
		}
		// "revived" comes back during the sweeps: its jobs are
		// interrupted by a sweep before its heartbeat, or by none.
		wg.Go(func() { _, errs[2*n] = s.Heartbeat(t.Context(), "revived", *At(time.Minute)) })
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}

		seen := make(map[int64]bool)
		for i, ids := range results {
			if !slices.IsSorted(ids) {
				t.Errorf("InterruptStale %d returned %v, not ascending", i, ids)
			}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("job %d returned by more than one InterruptStale", id)
				}
				seen[id] = true
			}
		}
		revived := seen[jobs["revived"][0].ID]
		for owner, list := range jobs {
			wantInterrupted := owner == "stale-a" || owner == "stale-b" || owner == "never" ||
				(owner == "revived" && revived)
			for _, job := range list {
				got := MustFindJob(t, s, job.ID)
				if seen[job.ID] != wantInterrupted {
					t.Fatalf("job %d of %q: returned = %t, want %t", job.ID, owner, seen[job.ID], wantInterrupted)
				}
				want := gaffer.StatusRunning
				if wantInterrupted {
					want = gaffer.StatusInterrupted
				}
				if got.Status != want {
					t.Fatalf("job %d of %q has status %q, want %q", job.ID, owner, got.Status, want)
				}
				for _, r := range got.Runs {
					if wantInterrupted && (r.Status != gaffer.StatusInterrupted || r.Error != reason) {
						t.Fatalf("job %d run %s: status %q error %q, want interrupted with the reason", job.ID, r.Host, r.Status, r.Error)
					}
				}
			}
		}
		if len(seen) != 3*perOwner && len(seen) != 4*perOwner {
			t.Fatalf("%d jobs interrupted", len(seen))
		}
		// Heard from since, "revived" keeps whatever it still runs.
		assertIDs(t, "InterruptStale after the heartbeat", MustInterruptStale(t, s, before, reason))
	})
}

// interruptedJob returns want as InterruptStale or InterruptUnfinished
// leaves it, with the finish times got has, which must be in UTC and not
// before start.
func interruptedJob(tb testing.TB, want, got *gaffer.Job, reason string, start time.Time) *gaffer.Job {
	tb.Helper()
	finished := func(what string, t *time.Time) *time.Time {
		tb.Helper()
		if t == nil {
			tb.Fatalf("job %d: %s has no finished_at", want.ID, what)
		}
		assertUTC(tb, what+" finished_at", *t)
		// A second of slack for clocks coarser than time.Now's.
		if t.Before(start.Add(-time.Second)) {
			tb.Fatalf("job %d: %s finished_at %v is before the call at %v", want.ID, what, t, start)
		}
		return t
	}
	want = cloneJob(want)
	want.Status, want.FinishedAt = gaffer.StatusInterrupted, finished("job", got.FinishedAt)
	for i, r := range want.Runs {
		if r.Status.Done() {
			continue
		}
		r.Status = gaffer.StatusInterrupted
		if r.Error == "" {
			r.Error = reason
		}
		if i < len(got.Runs) {
			r.FinishedAt = finished("run "+r.Host, got.Runs[i].FinishedAt)
		}
	}
	return want
}

// MustHeartbeat sends a heartbeat or fails the test, and returns the ids of
// jobs to cancel.
func MustHeartbeat(tb testing.TB, s gaffer.JobStore, owner string, now time.Time) []int64 {
	tb.Helper()
	ids, err := s.Heartbeat(tb.Context(), owner, now)
	if err != nil {
		tb.Fatalf("Heartbeat(%q): %v", owner, err)
	}
	return ids
}

// MustInterruptStale interrupts the jobs of owners silent since before or
// fails the test.
func MustInterruptStale(tb testing.TB, s gaffer.JobStore, before time.Time, reason string) []int64 {
	tb.Helper()
	ids, err := s.InterruptStale(tb.Context(), before, reason)
	if err != nil {
		tb.Fatalf("InterruptStale: %v", err)
	}
	return ids
}

// assertRoundTrip creates a copy of job in the empty store s and fails
// unless FindJob and FindJobs return it as it was given.
func assertRoundTrip(tb testing.TB, s gaffer.JobStore, job *gaffer.Job) {
	tb.Helper()
	want, created := cloneJob(job), cloneJob(job)
	MustCreateJob(tb, s, created)
	if created.ID <= 0 {
		tb.Fatalf("ID = %d, want > 0", created.ID)
	}
	want.ID = created.ID
	AssertJobEqual(tb, MustFindJob(tb, s, created.ID), want)
	// The listing returns the same job.
	list := MustFindJobs(tb, s, gaffer.JobFilter{})
	if len(list) != 1 {
		tb.Fatalf("FindJobs returned %d jobs, want 1", len(list))
	}
	AssertJobEqual(tb, list[0], want)
}

// assertIDs fails unless got holds exactly want, in that order.
func assertIDs(tb testing.TB, what string, got []int64, want ...int64) {
	tb.Helper()
	if !slices.Equal(got, want) {
		tb.Fatalf("%s returned %v, want %v", what, got, want)
	}
}

// MustCreateJob creates job in s or fails the test.
func MustCreateJob(tb testing.TB, s gaffer.JobStore, job *gaffer.Job) {
	tb.Helper()
	if err := s.CreateJob(tb.Context(), job); err != nil {
		tb.Fatalf("CreateJob: %v", err)
	}
}

// MustFindJob returns the job with the given id or fails the test.
func MustFindJob(tb testing.TB, s gaffer.JobStore, id int64) *gaffer.Job {
	tb.Helper()
	job, err := s.FindJob(tb.Context(), id)
	if err != nil {
		tb.Fatalf("FindJob(%d): %v", id, err)
	}
	return job
}

// MustFindJobs returns the jobs matching filter or fails the test.
func MustFindJobs(tb testing.TB, s gaffer.JobStore, filter gaffer.JobFilter) []*gaffer.Job {
	tb.Helper()
	jobs, err := s.FindJobs(tb.Context(), filter)
	if err != nil {
		tb.Fatalf("FindJobs(%+v): %v", filter, err)
	}
	return jobs
}

// AssertJobEqual fails the test unless got equals want field by field, with
// times equal to the nanosecond and got's times in UTC.
func AssertJobEqual(tb testing.TB, got, want *gaffer.Job) {
	tb.Helper()
	if got == nil {
		tb.Fatalf("got no job, want job %d", want.ID)
	}
	for _, tm := range jobTimes(got) {
		assertUTC(tb, tm.name, tm.t)
	}
	if g, w := Describe(got), Describe(want); g != w {
		tb.Fatalf("job %d differs:\ngot:\n%s\nwant:\n%s", want.ID, g, w)
	}
}

// Describe writes every field of job, one a line, with times in UTC to the
// nanosecond, so that two jobs can be compared and their differences read.
func Describe(job *gaffer.Job) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id=%d command=%q status=%q created_by=%q owner=%q\n", job.ID, job.Command, job.Status, job.CreatedBy, job.Owner)
	fmt.Fprintf(&b, "created_at=%s started_at=%s finished_at=%s\n",
		describeTime(&job.CreatedAt), describeTime(job.StartedAt), describeTime(job.FinishedAt))
	fmt.Fprintf(&b, "timeout=%d pty=%t concurrency=%d runs=%d\n", job.Timeout, job.PTY, job.Concurrency, len(job.Runs))
	// %#v tells nil from empty; alert rules are printed field by field, as
	// their MarshalJSON would hide most of the webhook.
	fmt.Fprintf(&b, "follow=%#v from=%q retain=%q alerts=%d\n", job.Follow, job.From, job.Retain, len(job.Alerts))
	for _, a := range job.Alerts {
		fmt.Fprintf(&b, "  alert pattern=%q webhook=%q\n", a.Pattern, a.Webhook)
	}
	for i, r := range job.Runs {
		exit := "nil"
		if r.ExitCode != nil {
			exit = fmt.Sprint(*r.ExitCode)
		}
		fmt.Fprintf(&b, "  run %d: host=%q status=%q exit_code=%s signal=%q error=%q started_at=%s finished_at=%s\n",
			i, r.Host, r.Status, exit, r.Signal, r.Error, describeTime(r.StartedAt), describeTime(r.FinishedAt))
		describeFollow(&b, r.Follow)
	}
	return b.String()
}

// describeFollow writes a run's follow state, positions included.
func describeFollow(b *strings.Builder, f *gaffer.FollowState) {
	if f == nil {
		return
	}
	fmt.Fprintf(b, "    follow state=%q since=%s message=%q files=%d files_nil=%t positions=%#v\n",
		f.State, describeTime(f.Since), f.Message, len(f.Files), f.Files == nil, f.Positions)
	for _, file := range f.Files {
		fmt.Fprintf(b, "      file path=%q state=%q since=%s message=%q\n",
			file.Path, file.State, describeTime(&file.Since), file.Message)
	}
}

func describeTime(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
}

type namedTime struct {
	name string
	t    time.Time
}

func jobTimes(job *gaffer.Job) []namedTime {
	times := []namedTime{{"created_at", job.CreatedAt}}
	add := func(name string, t *time.Time) {
		if t != nil {
			times = append(times, namedTime{name, *t})
		}
	}
	add("started_at", job.StartedAt)
	add("finished_at", job.FinishedAt)
	for _, r := range job.Runs {
		add("run "+r.Host+" started_at", r.StartedAt)
		add("run "+r.Host+" finished_at", r.FinishedAt)
		if f := r.Follow; f != nil {
			add("run "+r.Host+" follow since", f.Since)
			for i := range f.Files {
				add("run "+r.Host+" file "+f.Files[i].Path+" since", &f.Files[i].Since)
			}
		}
	}
	return times
}

func assertUTC(tb testing.TB, what string, t time.Time) {
	tb.Helper()
	if t.Location() != time.UTC {
		tb.Fatalf("%s is in %v, want UTC", what, t.Location())
	}
}

// assertNotFound fails unless err has code ENOTFOUND and, if msg is not
// empty, that message.
func assertNotFound(tb testing.TB, err error, msg string) {
	tb.Helper()
	assertCode(tb, err, gaffer.ENOTFOUND, msg)
}

// assertCode fails unless err has the given code and, if msg is not empty,
// that message.
func assertCode(tb testing.TB, err error, code, msg string) {
	tb.Helper()
	if got := gaffer.ErrorCode(err); got != code {
		tb.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
	if msg != "" && gaffer.ErrorMessage(err) != msg {
		tb.Fatalf("error message = %q, want %q", gaffer.ErrorMessage(err), msg)
	}
}

// ownedJob is newJob with an owner.
func ownedJob(owner string, status gaffer.Status, hosts ...string) *gaffer.Job {
	job := newJob(status, hosts...)
	job.Owner = owner
	return job
}

// created sets job's creation time and returns it.
func created(job *gaffer.Job, at time.Time) *gaffer.Job {
	job.CreatedAt = at
	return job
}

// newJob returns a job with the given status and one run per host, in that
// status (queued for a running job).
func newJob(status gaffer.Status, hosts ...string) *gaffer.Job {
	job := &gaffer.Job{Command: "uptime", Status: status, CreatedAt: T0}
	runStatus := status
	if status == gaffer.StatusRunning {
		runStatus = gaffer.StatusQueued
	}
	for _, h := range hosts {
		run := &gaffer.Run{Host: h, Status: runStatus}
		if runStatus.Done() {
			run.FinishedAt = At(time.Second)
			if runStatus == gaffer.StatusSucceeded {
				run.ExitCode = Int(0)
			}
		}
		job.Runs = append(job.Runs, run)
	}
	if len(hosts) > 0 {
		job.Runs[0].Status = status // a running job has one run under way
	}
	return job
}

func cloneJob(job *gaffer.Job) *gaffer.Job {
	c := *job
	c.StartedAt, c.FinishedAt = clonePtr(job.StartedAt), clonePtr(job.FinishedAt)
	c.Follow, c.Alerts = slices.Clone(job.Follow), slices.Clone(job.Alerts)
	c.Runs = nil
	for _, r := range job.Runs {
		c.Runs = append(c.Runs, cloneRun(r))
	}
	return &c
}

func cloneRun(run *gaffer.Run) *gaffer.Run {
	c := *run
	c.ExitCode, c.StartedAt, c.FinishedAt = clonePtr(run.ExitCode), clonePtr(run.StartedAt), clonePtr(run.FinishedAt)
	c.Follow = cloneFollow(run.Follow)
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func ptr[T any](v T) *T { return &v }
