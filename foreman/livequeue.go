package foreman

import (
	"bytes"

	"github.com/gaffer-dev/gaffer"
)

// liveBlockBytes is the size of the blocks a liveQueue copies records'
// data into: a record holds at most gaffer.MaxRecord bytes, so one fits.
const liveBlockBytes = 64 << 10

// liveQueue holds records waiting for the live log. Their data is copied
// into blocks the queue owns and reuses (a Framer's records are its own
// only while it emits them), so that queueing a chunk of short lines costs
// a copy, not an allocation per line, and dropping the oldest records when
// the live log lags frees their blocks.
type liveQueue struct {
	recs   []gaffer.Record
	size   int         // Record.Size of recs
	blocks []liveBlock // oldest first; the last one is filled next
	free   [][]byte    // emptied blocks, for reuse
}

// liveBlock is a block of data and the number of queued records whose data
// starts in it.
type liveBlock struct {
	data []byte
	n    int
}

// add queues copies of recs.
func (q *liveQueue) add(recs []gaffer.Record) {
	for i := range recs {
		r := recs[i]
		r.Data = q.copy(r.Data)
		q.recs = append(q.recs, r)
		q.size += r.Size()
	}
}

// copy returns d copied into the queue's last block (a new one when it is
// full), counting one record in that block.
func (q *liveQueue) copy(d []byte) []byte {
	big := len(d) > liveBlockBytes // not from a Framer: no block holds it
	last := len(q.blocks) - 1
	if last < 0 || !big && cap(q.blocks[last].data)-len(q.blocks[last].data) < len(d) {
		var data []byte
		if k := len(q.free) - 1; k >= 0 {
			data, q.free = q.free[k], q.free[:k]
		} else {
			data = make([]byte, 0, liveBlockBytes)
		}
		q.blocks = append(q.blocks, liveBlock{data: data})
		last++
	}
	b := &q.blocks[last]
	b.n++
	if big {
		return bytes.Clone(d)
	}
	start := len(b.data)
	b.data = append(b.data, d...)
	return b.data[start:len(b.data):len(b.data)]
}

// dropOldest drops the oldest records until size more bytes fit in limit,
// and returns how many it dropped.
func (q *liveQueue) dropOldest(size, limit int) int {
	drop := 0
	for q.size+size > limit && drop < len(q.recs) {
		q.size -= q.recs[drop].Size()
		drop++
	}
	if drop == 0 {
		return 0
	}
	n := copy(q.recs, q.recs[drop:])
	clear(q.recs[n:])
	q.recs = q.recs[:n]
	// Free the blocks that held only dropped records' data; the last one
	// is kept to fill on.
	left := drop
	for len(q.blocks) > 1 && q.blocks[0].n <= left {
		left -= q.blocks[0].n
		q.recycle(q.blocks[0].data)
		q.blocks[0] = liveBlock{}
		q.blocks = q.blocks[1:]
	}
	if len(q.blocks) > 0 {
		q.blocks[0].n = max(0, q.blocks[0].n-left)
	}
	return drop
}

// reset empties the queue once the live log has taken (copied) its
// records, keeping its blocks for reuse.
func (q *liveQueue) reset() {
	clear(q.recs)
	q.recs, q.size = q.recs[:0], 0
	for i := range q.blocks {
		q.recycle(q.blocks[i].data)
	}
	clear(q.blocks)
	q.blocks = q.blocks[:0]
}

// maxFreeBlocks bounds the blocks a queue keeps for reuse: a queue full
// of liveQueueBytes, and one more.
const maxFreeBlocks = liveQueueBytes/liveBlockBytes + 1

func (q *liveQueue) recycle(data []byte) {
	if cap(data) == liveBlockBytes && len(q.free) < maxFreeBlocks {
		q.free = append(q.free, data[:0])
	}
}
