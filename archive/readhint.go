package archive

import "sync"

// readHints remember where reads of a log left off: for the seq after the
// last record a Read returned, the offset of the frame that holds it. A
// viewer reading a long log from start to end then starts each read there
// instead of searching the index and reading its entries again. A hint is
// a guess: Read checks that the frame at it holds the seq it wants, and
// searches the index when it does not (a log cut and written again, a gap).
type readHints struct {
	mu   sync.Mutex
	jobs map[int64]*jobHints
}

// hintsPerJob: readers of one log at different places (a few viewers
// behind, a search, an export) each keep their own.
const hintsPerJob = 8

// maxHintJobs bounds the jobs with hints; past it they are all dropped
// (a hint only saves time).
const maxHintJobs = 4096

type jobHints struct {
	h    [hintsPerJob]readHint
	next int // the slot a new reader takes, round robin
}

type readHint struct{ seq, off int64 } // seq 0: empty

// get returns the offset of the frame holding seq, if a read left one.
func (rh *readHints) get(jobID, seq int64) (int64, bool) {
	rh.mu.Lock()
	defer rh.mu.Unlock()
	if j := rh.jobs[jobID]; j != nil {
		for _, h := range j.h {
			if h.seq == seq {
				return h.off, true
			}
		}
	}
	return 0, false
}

// put records that the frame at off holds seq, for the reader that asked
// for from (its old hint, if it had one, is replaced).
func (rh *readHints) put(jobID, from, seq, off int64) {
	rh.mu.Lock()
	defer rh.mu.Unlock()
	if rh.jobs == nil || len(rh.jobs) >= maxHintJobs && rh.jobs[jobID] == nil {
		rh.jobs = map[int64]*jobHints{}
	}
	j := rh.jobs[jobID]
	if j == nil {
		j = &jobHints{}
		rh.jobs[jobID] = j
	}
	for i := range j.h {
		if j.h[i].seq == from || j.h[i].seq == seq {
			j.h[i] = readHint{seq, off}
			return
		}
	}
	j.h[j.next] = readHint{seq, off}
	j.next = (j.next + 1) % hintsPerJob
}

// forget drops a job's hints (its log was created, deleted or cut).
func (rh *readHints) forget(jobID int64) {
	rh.mu.Lock()
	delete(rh.jobs, jobID)
	rh.mu.Unlock()
}
