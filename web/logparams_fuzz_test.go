package web

import (
	"net/url"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// Any query string gets checked parameters or an EINVALID error, never a
// panic, and checked parameters keep the rules: one start at most, counts
// and seqs within bounds, a filter naming a host of the job.
func FuzzLogParams(f *testing.F) {
	for _, s := range []string{
		"", "tail=10", "tail=0", "before=5&limit=3", "since=2026-11-25T22:01:02Z", "after=3&limit=9&host=web-1&stream=stderr",
		"tail=5&before=9", "follow=1&tail=2", "q=a(&regex=1", "q=x&case=1&limit=100000", "host=%00&stream=%ff", "tail=-0",
		"before=4611686018427387904", "since=2026-11-25T22:01:02.123456789+01:00", "download=1",
		"file=%2Fvar%2Flog%2Fa.log&host=web-1", "tail=3&file=a%00b",
	} {
		f.Add(s)
	}
	job := &gaffer.Job{ID: 3, Runs: []*gaffer.Run{{Host: "web-1"}, {Host: "web-2"}}}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, form := range []logForm{formSSE, formNDJSON, formRaw} {
			p, err := parseLogParams(q, job, form)
			if err != nil {
				if gaffer.ErrorCode(err) != gaffer.EINVALID || gaffer.ErrorMessage(err) == "" {
					t.Fatalf("%q form %d: %v", raw, form, err)
				}
				continue
			}
			starts := 0
			for _, on := range []bool{p.tail > 0, p.before > 0, p.after > 0, !p.since.IsZero()} {
				if on {
					starts++
				}
			}
			if starts > 1 || p.tail < 0 || p.tail > maxCount || p.limit < 0 || p.limit > maxCount || p.before < 0 || p.after < 0 ||
				(p.before > 0 && p.limit == 0) || (p.tail > 0 && p.limit > 0) {
				t.Fatalf("%q form %d: %+v", raw, form, p)
			}
			if p.filter.Host != "" && !hasRun(job, p.filter.Host) || len(p.filter.File) > maxFileParam || form == formRaw && (p.filter.Host == "" || p.filter.Stream == "" || p.follow) {
				t.Fatalf("%q form %d: filter %+v", raw, form, p.filter)
			}
		}
		sq, err := parseSearch(q, job)
		if err != nil {
			if gaffer.ErrorCode(err) != gaffer.EINVALID {
				t.Fatalf("search %q: %v", raw, err)
			}
			return
		}
		if _, err := sq.Compile(); err != nil || sq.Limit < 1 || sq.Limit > gaffer.MaxSearchLimit || sq.After < 0 {
			t.Fatalf("search %q: %+v %v", raw, sq, err)
		}
	})
}
