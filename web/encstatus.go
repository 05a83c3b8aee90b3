package web

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/gaffer-dev/gaffer"
)

// The shared status: viewers of the ring send a status event after each
// read that holds a system line (a run started or ended) and at the end,
// and a status is the whole job (a run per host). Those at one position
// share one lookup and its JSON, as they share the lines: a thousand
// viewers of a 200-host job looked it up and encoded it a thousand times
// for each run that started or ended.

// encStatus is the job as looked up once its viewer had read the log
// through asOf (and its end, if end).
type encStatus struct {
	mu   sync.Mutex
	asOf int64
	end  bool
	job  *gaffer.Job
	data []byte // the job's JSON: the status event's data
}

// job returns the job, and its JSON, as of a viewer that has read the log
// through seen (and its end, if end): one looked up after that, by this
// viewer or another, so it holds every change those lines announced. A nil
// ring (a filtered viewer) looks it up itself.
func (l *encLog) job(ctx context.Context, jobs JobService, id, seen int64, end bool) (*gaffer.Job, []byte, error) {
	if l == nil {
		return lookUpJob(ctx, jobs, id)
	}
	st := &l.status
	// Viewers at one place wait for one lookup rather than each making
	// their own.
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.job != nil && (st.asOf > seen || st.asOf == seen && (st.end || !end)) {
		return st.job, st.data, nil
	}
	j, data, err := lookUpJob(ctx, jobs, id)
	if err != nil {
		return nil, nil, err
	}
	st.asOf, st.end, st.job, st.data = seen, end, j, data
	return j, data, nil
}

func lookUpJob(ctx context.Context, jobs JobService, id int64) (*gaffer.Job, []byte, error) {
	j, err := jobs.Job(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	data, err := json.Marshal(j)
	if err != nil {
		return nil, nil, err
	}
	return j, data, nil
}
