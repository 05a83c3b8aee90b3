package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// testDeleteFinished is the contract of retention: finished jobs older than
// a time, or beyond the newest N, go with their runs, oldest first, a batch
// at a time; unfinished jobs never do, however old; and instances deleting
// at once each delete a job at most once between them.
func testDeleteFinished(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	// finished returns a finished job (runs included) that ended at T0+d.
	finished := func(status gaffer.Status, d time.Duration) *gaffer.Job {
		job := newJob(status, "web1", "web2")
		job.CreatedAt = T0.Add(d - time.Hour)
		job.FinishedAt = At(d)
		return job
	}
	// unfinished returns a job created long before any cutoff.
	unfinished := func(status gaffer.Status) *gaffer.Job {
		return created(newJob(status, "web1"), *At(-100 * time.Hour))
	}
	create := func(t *testing.T, s gaffer.JobStore, jobs ...*gaffer.Job) []int64 {
		t.Helper()
		ids := make([]int64, len(jobs))
		for i, job := range jobs {
			MustCreateJob(t, s, job)
			ids[i] = job.ID
		}
		return ids
	}
	deleteFinished := func(t *testing.T, s gaffer.JobStore, olderThan time.Time, keepNewest, limit int) []int64 {
		t.Helper()
		ids, err := s.DeleteFinished(t.Context(), olderThan, keepNewest, limit)
		if err != nil {
			t.Fatalf("DeleteFinished: %v", err)
		}
		return ids
	}
	// assertGone checks that the jobs and their runs are gone, and that
	// the others are all still there.
	assertGone := func(t *testing.T, s gaffer.JobStore, all []int64, gone ...int64) {
		t.Helper()
		for _, id := range all {
			_, err := s.FindJob(t.Context(), id)
			if slices.Contains(gone, id) {
				assertNotFound(t, err, fmt.Sprintf("job %d does not exist", id))
			} else if err != nil {
				t.Fatalf("FindJob(%d) of a kept job: %v", id, err)
			}
		}
		var left []int64
		for _, job := range MustFindJobs(t, s, gaffer.JobFilter{Host: "web1", Limit: 1000}) {
			left = append(left, job.ID)
		}
		for _, id := range gone {
			if slices.Contains(left, id) {
				t.Fatalf("job %d is deleted but its run on web1 is still listed", id)
			}
		}
		if want := len(all) - len(gone); len(left) != want {
			t.Fatalf("%d jobs left with a run on web1, want %d", len(left), want)
		}
	}

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		assertIDs(t, "DeleteFinished", deleteFinished(t, s, T0, 1, 100))
	})

	t.Run("OlderThan", func(t *testing.T) {
		s := open(t)
		ids := create(t, s,
			finished(gaffer.StatusSucceeded, -2*time.Hour),
			unfinished(gaffer.StatusRunning),
			finished(gaffer.StatusFailed, -time.Hour),
			unfinished(gaffer.StatusQueued),
			finished(gaffer.StatusCanceled, 0), // at the cutoff: kept
			finished(gaffer.StatusTimedOut, -1),
			finished(gaffer.StatusInterrupted, time.Minute),
		)
		assertIDs(t, "DeleteFinished", deleteFinished(t, s, T0, 0, 100), ids[0], ids[2], ids[5])
		assertGone(t, s, ids, ids[0], ids[2], ids[5])
		assertIDs(t, "DeleteFinished again", deleteFinished(t, s, T0, 0, 100))
	})

	t.Run("KeepNewest", func(t *testing.T) {
		s := open(t)
		// Newest is by id (the listing's order), whenever each finished.
		ids := create(t, s,
			finished(gaffer.StatusSucceeded, time.Hour),
			unfinished(gaffer.StatusRunning),
			finished(gaffer.StatusFailed, 2*time.Hour),
			finished(gaffer.StatusSucceeded, -time.Hour),
			unfinished(gaffer.StatusQueued),
			finished(gaffer.StatusSucceeded, 3*time.Hour),
		)
		// Nothing when there are no more than N.
		assertIDs(t, "DeleteFinished keep 4", deleteFinished(t, s, time.Time{}, 4, 100))
		assertIDs(t, "DeleteFinished keep 2", deleteFinished(t, s, time.Time{}, 2, 100), ids[0], ids[2])
		assertGone(t, s, ids, ids[0], ids[2])
		assertIDs(t, "DeleteFinished keep 1", deleteFinished(t, s, time.Time{}, 1, 100), ids[3])
		assertGone(t, s, ids, ids[0], ids[2], ids[3])
	})

	t.Run("Both", func(t *testing.T) {
		s := open(t)
		ids := create(t, s,
			finished(gaffer.StatusSucceeded, time.Hour), // beyond the newest 2
			finished(gaffer.StatusSucceeded, time.Hour),
			finished(gaffer.StatusFailed, -time.Hour), // too old
			finished(gaffer.StatusSucceeded, time.Hour),
		)
		assertIDs(t, "DeleteFinished", deleteFinished(t, s, T0, 2, 100), ids[0], ids[1], ids[2])
		assertGone(t, s, ids, ids[0], ids[1], ids[2])
	})

	t.Run("Off", func(t *testing.T) {
		s := open(t)
		ids := create(t, s, finished(gaffer.StatusSucceeded, -time.Hour), unfinished(gaffer.StatusRunning))
		// No time and no count: nothing is too old.
		assertIDs(t, "DeleteFinished", deleteFinished(t, s, time.Time{}, 0, 100))
		assertGone(t, s, ids)
	})

	t.Run("Batches", func(t *testing.T) {
		s := open(t)
		var jobs []*gaffer.Job
		for i := range 5 {
			jobs = append(jobs, finished(gaffer.StatusSucceeded, -time.Duration(5-i)*time.Minute))
		}
		ids := create(t, s, jobs...)
		// Oldest first, at most limit at a time.
		assertIDs(t, "batch 1", deleteFinished(t, s, T0, 0, 2), ids[0], ids[1])
		assertIDs(t, "batch 2", deleteFinished(t, s, T0, 0, 2), ids[2], ids[3])
		assertIDs(t, "batch 3", deleteFinished(t, s, T0, 0, 2), ids[4])
		assertIDs(t, "batch 4", deleteFinished(t, s, T0, 0, 2))
	})

	t.Run("Racing", func(t *testing.T) {
		s := open(t)
		const n = 30
		var jobs []*gaffer.Job
		for i := range n {
			if i%5 == 0 {
				jobs = append(jobs, unfinished(gaffer.StatusRunning))
			} else {
				jobs = append(jobs, finished(gaffer.StatusSucceeded, -time.Hour))
			}
		}
		ids := create(t, s, jobs...)
		var want []int64
		for i, id := range ids {
			if i%5 != 0 {
				want = append(want, id)
			}
		}
		// Four sweepers at once, as instances sharing a store run them.
		got := make([][]int64, 4)
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				for {
					batch, err := s.DeleteFinished(t.Context(), T0, 0, 3)
					if err != nil || len(batch) == 0 {
						errs[i] = err
						return
					}
					got[i] = append(got[i], batch...)
				}
			})
		}
		wg.Wait()
		var all []int64
		for i := range got {
			if errs[i] != nil {
				t.Fatalf("sweeper %d: %v", i, errs[i])
			}
			all = append(all, got[i]...)
		}
		slices.Sort(all)
		// Each job reported deleted once, by one sweeper.
		assertIDs(t, "the sweepers together", all, want...)
		assertGone(t, s, ids, want...)
	})
}
