package storetest

import (
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// secretWebhook has a path and query a redacted URL would hide: the store
// must give back every byte of it.
const secretWebhook = "https://hooks.example.com/services/T000/B000/XXXXsecretXXXX?token=s3cr%C3%A9t&x=1#frag"

// followJob is a follow job as the server creates it, on hosts.
func followJob(hosts ...string) *gaffer.Job {
	job := newJob(gaffer.StatusRunning, hosts...)
	job.Follow = []string{"/var/log/nginx/*.log", "/var/log/syslog", "relative dir/with space.log", "/srv/ünï/[ab]?.log"}
	job.Command = gaffer.FollowCommand(job.Follow)
	job.From = "start"
	job.Retain = "1GB"
	job.Alerts = []gaffer.AlertRule{
		{Pattern: `(?i)\berror\b|panic: .*`, Webhook: secretWebhook},
		{Pattern: "OOM"}, // marks records, posts nowhere
	}
	return job
}

// followState is a run's state with every field set, times not in UTC.
func followState() *gaffer.FollowState {
	return &gaffer.FollowState{
		State:   gaffer.FollowReconnecting,
		Since:   At(7 * time.Second),
		Message: "dial tcp 127.0.0.9:22: connect: connection refused",
		Files: []gaffer.FileState{
			{Path: "/var/log/nginx/access.log", State: gaffer.FileFollowing, Since: T0},
			{Path: "/var/log/nginx/*.log", State: gaffer.FileMissing, Since: *At(1)},
			{Path: "/var/log/syslog", State: gaffer.FileError, Since: *At(2), Message: "Permission denied ✗"},
		},
		Positions: []gaffer.FilePosition{
			{Path: "/var/log/nginx/access.log", FileID: "2049:131074", Offset: 1 << 40},
			{Path: "/var/log/nginx/access.log", FileID: "2049:99", Offset: 0},
			{Path: "/var/log/syslog", FileID: "66306:7", Offset: 12345},
		},
		Seq:        1 << 33,
		JobSecrets: true,
	}
}

func testFollow(t *testing.T, open func(t *testing.T) gaffer.JobStore) {
	t.Run("RoundTrip", func(t *testing.T) {
		withState := followJob("web1", "web2", "web3")
		withState.Runs[0].Follow = followState()
		withState.Runs[1].Follow = &gaffer.FollowState{State: gaffer.FollowConnecting, Files: []gaffer.FileState{}}
		endOnly := followJob("web1")
		endOnly.From, endOnly.Retain, endOnly.Alerts = "", "", nil
		long := newJob(gaffer.StatusRunning, "db1") // a long command job may keep a window and alert too
		long.Retain, long.Alerts = "7d", []gaffer.AlertRule{{Pattern: "FATAL", Webhook: "http://127.0.0.1:9/a"}}
		for _, tt := range []struct {
			name string
			job  *gaffer.Job
		}{
			{"Follow", followJob("web1", "web2")},
			{"FollowState", withState},
			{"FromEnd", endOnly},
			{"LongCommand", long},
		} {
			t.Run(tt.name, func(t *testing.T) {
				assertRoundTrip(t, open(t), tt.job)
			})
		}
	})

	t.Run("WebhookKeptWhole", func(t *testing.T) {
		s := open(t)
		job := followJob("web1")
		MustCreateJob(t, s, job)
		got := MustFindJob(t, s, job.ID)
		if len(got.Alerts) != 2 || got.Alerts[0].Webhook != secretWebhook || got.Alerts[1].Webhook != "" {
			t.Fatalf("alerts read back as %+v, want the webhook %q kept whole", got.Alerts, secretWebhook)
		}
	})

	t.Run("UpdateRunKeepsPositions", func(t *testing.T) {
		s := open(t)
		job := followJob("web1", "web2")
		MustCreateJob(t, s, job)
		want := cloneJob(job)
		for _, tt := range []struct {
			name   string
			follow *gaffer.FollowState
		}{
			{"Connecting", &gaffer.FollowState{State: gaffer.FollowConnecting}},
			{"Everything", followState()},
			{"Moved", func() *gaffer.FollowState {
				f := followState()
				f.State, f.Since, f.Message = gaffer.FollowFollowing, nil, ""
				f.Positions = f.Positions[2:]
				f.Positions[0].Offset++
				return f
			}()},
			{"Cleared", nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				run := &gaffer.Run{Host: "web2", Status: gaffer.StatusRunning, StartedAt: At(1), Follow: cloneFollow(tt.follow)}
				if err := s.UpdateRun(t.Context(), job.ID, run); err != nil {
					t.Fatalf("UpdateRun: %v", err)
				}
				want.Runs[1] = cloneRun(run)
				got := MustFindJob(t, s, job.ID)
				AssertJobEqual(t, got, want)
				if tt.follow != nil && len(got.Runs[1].Follow.Positions) != len(tt.follow.Positions) {
					t.Fatalf("positions read back as %+v, want %+v", got.Runs[1].Follow.Positions, tt.follow.Positions)
				}
			})
		}
	})

	t.Run("CommandJobHasNone", func(t *testing.T) {
		s := open(t)
		job := newJob(gaffer.StatusRunning, "web1")
		MustCreateJob(t, s, job)
		if err := s.UpdateRun(t.Context(), job.ID, &gaffer.Run{Host: "web1", Status: gaffer.StatusSucceeded, ExitCode: Int(0)}); err != nil {
			t.Fatalf("UpdateRun: %v", err)
		}
		got := MustFindJob(t, s, job.ID)
		if got.Follow != nil || got.From != "" || got.Retain != "" || got.Alerts != nil || got.Runs[0].Follow != nil {
			t.Fatalf("command job read back with follow parts:\n%s", Describe(got))
		}
	})
}

func cloneFollow(f *gaffer.FollowState) *gaffer.FollowState {
	if f == nil {
		return nil
	}
	c := *f
	c.Since = clonePtr(f.Since)
	c.Files = append([]gaffer.FileState(nil), f.Files...)
	if f.Files != nil && c.Files == nil {
		c.Files = []gaffer.FileState{}
	}
	c.Positions = append([]gaffer.FilePosition(nil), f.Positions...)
	return &c
}
