package web

import (
	"net/url"
	"slices"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// Any query string gets a filter within the rules or an EINVALID error,
// never a panic: a known action or none, an actor of at most 200 bytes, a
// limit from 1 to 1000, before 0 (none) or positive.
func FuzzAuditFilter(f *testing.F) {
	for _, s := range []string{
		"", "limit=1000", "limit=0", "limit=1001", "limit=-1", "limit=1e3", "before=7&limit=1",
		"before=0", "before=4611686018427387904", "before=4611686018427387905", "action=job.start&actor=alice",
		"action=JOB.START", "action=", "actor=%00%ff", "action=login&action=job.start", "limit=%2B5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		af, err := auditFilter(q)
		if err != nil {
			if gaffer.ErrorCode(err) != gaffer.EINVALID || gaffer.ErrorMessage(err) == "" {
				t.Fatalf("%q: error %v, want EINVALID with a message", raw, err)
			}
			return
		}
		if af.Action != "" && !slices.Contains(gaffer.AuditActions, af.Action) {
			t.Fatalf("%q: action %q", raw, af.Action)
		}
		if len(af.Actor) > auditMaxActor || af.Limit < 1 || af.Limit > auditMaxLimit || af.Before < 0 {
			t.Fatalf("%q: filter %+v out of bounds", raw, af)
		}
	})
}
