package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// RunAudit is the contract every gaffer.AuditLog must meet. Each call to
// open must return a fresh, empty store, closed when the test ends. That
// entries cannot be changed or deleted is the store's own test: the
// interface has no way to try.
func RunAudit(t *testing.T, open func(t *testing.T) gaffer.AuditLog) {
	t.Run("Append", func(t *testing.T) { testAppendAudit(t, open) })
	t.Run("Find", func(t *testing.T) { testFindAudit(t, open) })
	t.Run("Limit", func(t *testing.T) { testAuditLimit(t, open) })
	t.Run("Concurrent", func(t *testing.T) { testAuditConcurrent(t, open) })
}

func testAppendAudit(t *testing.T, open func(t *testing.T) gaffer.AuditLog) {
	t.Run("RoundTrip", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			event gaffer.AuditEvent
		}{
			{"NoDetail", gaffer.AuditEvent{TS: T0, Actor: "alice", Action: gaffer.AuditLogin, RemoteAddr: "192.0.2.7:51234"}},
			{"Empty", gaffer.AuditEvent{TS: T0, Action: gaffer.AuditLoginFailed}},
			// Kept byte for byte: spacing, key order, escapes and all.
			{"Detail", gaffer.AuditEvent{TS: T0, Actor: "admin", Action: gaffer.AuditJobStart, Target: "job 42",
				RemoteAddr: "[2001:db8::1]:443",
				Detail:     json.RawMessage(`{"hosts": ["web-1","web-2"],  "host_keys":{"web-1":["SHA256:abc+/="]},"a":1.50,"z":null}`)}},
			{"DetailUnicode", gaffer.AuditEvent{TS: T0.UTC(), Actor: "Zoë 🦊", Action: gaffer.AuditTokenCreate, Target: "token 3 (Zoë 🦊)",
				Detail: json.RawMessage("{\n\t\"role\": \"operator\",\n\t\"note\": \"日本語 \\u00e9 \\\"q\\\" <b>&amp;\"\n}")}},
			{"EmptyObject", gaffer.AuditEvent{TS: T0, Action: gaffer.AuditSessionsReset, Detail: json.RawMessage(`{}`)}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				want := tt.event
				e := tt.event
				MustAppendAudit(t, s, &e)
				if e.ID <= 0 {
					t.Fatalf("ID = %d, want > 0", e.ID)
				}
				want.ID = e.ID
				got := MustFindAudit(t, s, gaffer.AuditFilter{})
				if len(got) != 1 {
					t.Fatalf("FindAudit returned %d events, want 1", len(got))
				}
				AssertAuditEqual(t, got[0], &want)
			})
		}
	})

	// No detail and an empty one both come back nil, which JSON leaves out.
	t.Run("NilDetail", func(t *testing.T) {
		s := open(t)
		for _, d := range []json.RawMessage{nil, {}} {
			MustAppendAudit(t, s, &gaffer.AuditEvent{TS: T0, Action: gaffer.AuditLogin, Detail: d})
		}
		for _, e := range MustFindAudit(t, s, gaffer.AuditFilter{}) {
			if e.Detail != nil {
				t.Fatalf("Detail = %q, want nil", e.Detail)
			}
		}
	})

	t.Run("ZeroTS", func(t *testing.T) {
		s := open(t)
		before := time.Now()
		e := &gaffer.AuditEvent{Action: gaffer.AuditLogin}
		MustAppendAudit(t, s, e)
		got := MustFindAudit(t, s, gaffer.AuditFilter{})[0]
		assertUTC(t, "TS", got.TS)
		if !got.TS.Equal(e.TS) || got.TS.Before(before.Add(-time.Second)) {
			t.Fatalf("stored TS %v, event given %v, call at %v", got.TS, e.TS, before)
		}
	})

	t.Run("InvalidDetail", func(t *testing.T) {
		for _, detail := range []string{`{`, `{"a":1}x`, `[1,2]`, `"text"`, `null`, `42`, "{\"a\":\"\xff\"}"} {
			t.Run(detail, func(t *testing.T) {
				s := open(t)
				e := &gaffer.AuditEvent{TS: T0, Action: gaffer.AuditLogin, Detail: json.RawMessage(detail)}
				assertCode(t, s.AppendAudit(t.Context(), e), gaffer.EINVALID, "")
				if e.ID != 0 {
					t.Fatalf("failed AppendAudit set ID %d", e.ID)
				} else if n := len(MustFindAudit(t, s, gaffer.AuditFilter{})); n != 0 {
					t.Fatalf("%d events stored after a failed AppendAudit", n)
				}
			})
		}
	})

	t.Run("NoAction", func(t *testing.T) {
		s := open(t)
		assertCode(t, s.AppendAudit(t.Context(), &gaffer.AuditEvent{TS: T0, Actor: "alice"}), gaffer.EINVALID, "")
	})
}

func testFindAudit(t *testing.T, open func(t *testing.T) gaffer.AuditLog) {
	s := open(t)
	if got := MustFindAudit(t, s, gaffer.AuditFilter{}); got == nil || len(got) != 0 {
		t.Fatalf("FindAudit on an empty store = %#v, want an empty non-nil slice", got)
	}
	// Events in append order; ids increase.
	seed := []*gaffer.AuditEvent{
		{Actor: "admin", Action: gaffer.AuditLogin},                                  // 0
		{Actor: "admin", Action: gaffer.AuditTokenCreate, Target: "token 1 (alice)"}, // 1
		{Actor: "alice", Action: gaffer.AuditLogin},                                  // 2
		{Actor: "alice", Action: gaffer.AuditJobStart, Target: "job 1"},              // 3
		{Actor: "", Action: gaffer.AuditLoginFailed},                                 // 4
		{Actor: "alice", Action: gaffer.AuditJobCancel, Target: "job 1"},             // 5
		{Actor: "alicia", Action: gaffer.AuditJobStart, Target: "job 2"},             // 6: shares a prefix with alice
		{Actor: "admin", Action: gaffer.AuditTokenRevoke, Target: "token 1 (alice)"}, // 7
		{Actor: "alice", Action: gaffer.AuditJobStart, Target: "job 3"},              // 8
	}
	for i, e := range seed {
		e.TS = T0.Add(time.Duration(i) * time.Second)
		e.RemoteAddr = "192.0.2.7:5000"
		MustAppendAudit(t, s, e)
	}
	id := func(i int) int64 { return seed[i].ID }
	for _, tt := range []struct {
		name   string
		filter gaffer.AuditFilter
		want   []int // indexes into seed, in the expected order
	}{
		{"All", gaffer.AuditFilter{}, []int{8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"Action", gaffer.AuditFilter{Action: gaffer.AuditJobStart}, []int{8, 6, 3}},
		{"ActionPrefix", gaffer.AuditFilter{Action: "login"}, []int{2, 0}},
		{"ActionNone", gaffer.AuditFilter{Action: "job"}, []int{}},
		{"Actor", gaffer.AuditFilter{Actor: "alice"}, []int{8, 5, 3, 2}},
		{"ActorAdmin", gaffer.AuditFilter{Actor: "admin"}, []int{7, 1, 0}},
		{"ActionAndActor", gaffer.AuditFilter{Action: gaffer.AuditJobStart, Actor: "alice"}, []int{8, 3}},
		{"Before", gaffer.AuditFilter{Before: id(3)}, []int{2, 1, 0}},
		{"BeforeFirst", gaffer.AuditFilter{Before: id(0)}, []int{}},
		{"BeforeAboveAll", gaffer.AuditFilter{Before: id(8) + 100}, []int{8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"Limit", gaffer.AuditFilter{Limit: 2}, []int{8, 7}},
		{"BeforeAndLimit", gaffer.AuditFilter{Before: id(7), Limit: 3}, []int{6, 5, 4}},
		{"AllFilters", gaffer.AuditFilter{Action: gaffer.AuditJobStart, Actor: "alice", Before: id(8), Limit: 10}, []int{3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := MustFindAudit(t, s, tt.filter)
			if got == nil {
				t.Fatal("FindAudit returned nil, want a non-nil slice")
			}
			var gotIDs, wantIDs []int64
			for _, e := range got {
				gotIDs = append(gotIDs, e.ID)
			}
			for _, i := range tt.want {
				wantIDs = append(wantIDs, id(i))
			}
			if !slices.Equal(gotIDs, wantIDs) {
				t.Fatalf("FindAudit(%+v) ids = %v, want %v", tt.filter, gotIDs, wantIDs)
			}
			for k, e := range got {
				AssertAuditEqual(t, e, seed[tt.want[k]])
			}
		})
	}
}

func testAuditLimit(t *testing.T, open func(t *testing.T) gaffer.AuditLog) {
	s := open(t)
	const n = 1005
	var ids []int64
	for i := range n {
		e := &gaffer.AuditEvent{TS: T0, Actor: "alice", Action: gaffer.AuditJobStart, Target: fmt.Sprint("job ", i)}
		MustAppendAudit(t, s, e)
		ids = append(ids, e.ID)
	}
	slices.Reverse(ids)
	for _, tt := range []struct{ limit, want int }{
		{0, 100}, // the default
		{-1, 100},
		{1000, 1000},
		{1001, 1000}, // capped
		{5000, 1000},
	} {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			got := MustFindAudit(t, s, gaffer.AuditFilter{Limit: tt.limit})
			if len(got) != tt.want {
				t.Fatalf("FindAudit(Limit: %d) returned %d events, want %d", tt.limit, len(got), tt.want)
			}
			for i, e := range got {
				if e.ID != ids[i] {
					t.Fatalf("event %d has ID %d, want %d (newest first)", i, e.ID, ids[i])
				}
			}
		})
	}
}

// Instances appending at once: every event stored once, with its own id.
func testAuditConcurrent(t *testing.T, open func(t *testing.T) gaffer.AuditLog) {
	s := open(t)
	const writers, each = 8, 10
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := &gaffer.AuditEvent{TS: T0, Actor: fmt.Sprint("w", w), Action: gaffer.AuditLogin, Target: fmt.Sprint(i)}
				if err := s.AppendAudit(t.Context(), e); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
	}
	got := MustFindAudit(t, s, gaffer.AuditFilter{Limit: 1000})
	seen := map[string]bool{}
	for _, e := range got {
		seen[e.Actor+"/"+e.Target] = true
	}
	if len(got) != writers*each || len(seen) != writers*each {
		t.Fatalf("%d events stored (%d distinct), want %d", len(got), len(seen), writers*each)
	}
}

// MustAppendAudit appends e to s or fails the test.
func MustAppendAudit(tb testing.TB, s gaffer.AuditLog, e *gaffer.AuditEvent) {
	tb.Helper()
	if err := s.AppendAudit(tb.Context(), e); err != nil {
		tb.Fatalf("AppendAudit(%s): %v", e.Action, err)
	}
}

// MustFindAudit returns the events matching f or fails the test.
func MustFindAudit(tb testing.TB, s gaffer.AuditLog, f gaffer.AuditFilter) []*gaffer.AuditEvent {
	tb.Helper()
	events, err := s.FindAudit(tb.Context(), f)
	if err != nil {
		tb.Fatalf("FindAudit(%+v): %v", f, err)
	}
	return events
}

// AssertAuditEqual fails unless got equals want field by field, TS to the
// nanosecond and in UTC, and Detail byte for byte (nil stays nil).
func AssertAuditEqual(tb testing.TB, got, want *gaffer.AuditEvent) {
	tb.Helper()
	if got == nil {
		tb.Fatalf("got no event, want event %d", want.ID)
	}
	assertUTC(tb, "TS", got.TS)
	describe := func(e *gaffer.AuditEvent) string {
		return fmt.Sprintf("id=%d ts=%s actor=%q action=%q target=%q remote_addr=%q",
			e.ID, describeTime(&e.TS), e.Actor, e.Action, e.Target, e.RemoteAddr)
	}
	if g, w := describe(got), describe(want); g != w {
		tb.Fatalf("event differs:\ngot:  %s\nwant: %s", g, w)
	}
	if (got.Detail == nil) != (want.Detail == nil) || !bytes.Equal(got.Detail, want.Detail) {
		tb.Fatalf("event %d detail = %q (nil: %t), want %q (nil: %t)", want.ID, got.Detail, got.Detail == nil, want.Detail, want.Detail == nil)
	}
}
