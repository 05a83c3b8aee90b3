package archive

import "sync"

// readHints remember where reads of a log left off: for the seq after the
// last record a Read returned, the offset of the frame that holds it. A
// viewer reading a long log from start to end then starts each read there
// instead of searching the index and reading its entries again. A hint is
// a guess: Read checks that the frame at it holds the seq it wants, and
// searches the index when it does not (a log cut and written again, a gap).
type readHints struct {
	mu        sync.Mutex
	jobs      map[int64]*jobHints
	heldBytes int // of the held frames' bodies
	// epoch counts forgets: a read that took its hint before a forget
	// (its log cut, recreated or deleted meanwhile) must not put back what
	// it found in the old file. One count for all jobs keeps it bounded; a
	// forget costs other reads in flight only their next hint.
	epoch uint64
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

// readHint: seq 0 is an empty slot. held, if not nil, is the frame at off,
// decoded, its next record seq.
type readHint struct {
	seq, off int64
	held     *heldBlock
}

// heldBlock is the frame a read stopped inside, kept decoded for the read
// that goes on from there: a viewer's read ends every MaxReadBytes, a frame
// holds up to 64 KiB of data, so without it each frame would be read,
// checked and decoded again by each of the reads it spans (six for seq's
// short lines). A frame in a data file never changes, and a hint is
// dropped when its log is cut or deleted (forget).
type heldBlock struct {
	body []byte // the frame's body: blk points into it
	blk  block  // at its next record
	end  int64  // the file offset after the frame
}

// maxHeldBytes bounds the bodies held, over all jobs: a held frame only
// saves time.
const maxHeldBytes = 8 << 20

// get returns the offset of the frame holding seq, if a read left one, and
// that frame decoded if it was kept: it is the caller's now, for put to
// hand back. The epoch, hinted or not, is put's.
func (rh *readHints) get(jobID, seq int64) (int64, *heldBlock, bool, uint64) {
	rh.mu.Lock()
	defer rh.mu.Unlock()
	if j := rh.jobs[jobID]; j != nil {
		for i := range j.h {
			if h := &j.h[i]; h.seq == seq {
				held := h.held
				rh.drop(h)
				return h.off, held, true, rh.epoch
			}
		}
	}
	return 0, nil, false, rh.epoch
}

// put records that the frame at off holds seq, for the reader that asked
// for from (its old hint, if it had one, is replaced), with the frame
// decoded if held is not nil. It reports whether it kept held: not past
// maxHeldBytes, and no log forgotten since the get that returned epoch.
func (rh *readHints) put(jobID, from, seq, off int64, held *heldBlock, epoch uint64) bool {
	rh.mu.Lock()
	defer rh.mu.Unlock()
	if epoch != rh.epoch {
		return false
	}
	if rh.jobs == nil || len(rh.jobs) >= maxHintJobs && rh.jobs[jobID] == nil {
		rh.jobs, rh.heldBytes = map[int64]*jobHints{}, 0
	}
	j := rh.jobs[jobID]
	if j == nil {
		j = &jobHints{}
		rh.jobs[jobID] = j
	}
	var h *readHint
	for i := range j.h {
		if j.h[i].seq == from || j.h[i].seq == seq {
			h = &j.h[i]
			break
		}
	}
	if h == nil {
		h = &j.h[j.next]
		j.next = (j.next + 1) % hintsPerJob
	}
	rh.drop(h)
	*h = readHint{seq: seq, off: off}
	if held == nil || rh.heldBytes+cap(held.body) > maxHeldBytes {
		return false
	}
	h.held = held
	rh.heldBytes += cap(held.body)
	return true
}

// drop lets h's held frame go; rh.mu held.
func (rh *readHints) drop(h *readHint) {
	if h.held != nil {
		rh.heldBytes -= cap(h.held.body)
		h.held = nil
	}
}

// forget drops a job's hints (its log was created, deleted or cut).
func (rh *readHints) forget(jobID int64) {
	rh.mu.Lock()
	rh.epoch++
	if j := rh.jobs[jobID]; j != nil {
		for i := range j.h {
			rh.drop(&j.h[i])
		}
	}
	delete(rh.jobs, jobID)
	rh.mu.Unlock()
}
