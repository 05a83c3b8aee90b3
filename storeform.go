package gaffer

import (
	"encoding/json"
	"fmt"
	"time"
)

// The SQL stores keep a job's follow paths and alert rules and a run's follow
// state as JSON text. This form is theirs alone, not the API's: it keeps
// webhook URLs whole (AlertRule.MarshalJSON redacts them) and a follow's
// Positions (never sent to clients), so a job read back can resume.

// storedAlertRule is an AlertRule without its redacting MarshalJSON.
type storedAlertRule struct {
	Pattern string `json:"pattern"`
	Webhook string `json:"webhook,omitempty"`
}

// storedFollowState is a FollowState with its Positions.
type storedFollowState struct {
	FollowState
	Positions  []FilePosition `json:"positions,omitempty"`
	Seq        int64          `json:"positions_seq,omitempty"`
	JobSecrets bool           `json:"job_secrets,omitempty"`
}

// JobColumns are a job's follow, from, retain and alerts as a store keeps
// them: NULL (nil) when not set, as for a command job.
type JobColumns struct {
	Follow, From, Retain, Alerts *string
}

// StoreJob encodes job's follow, from, retain and alerts.
func StoreJob(job *Job) (JobColumns, error) {
	var c JobColumns
	var err error
	if len(job.Follow) > 0 {
		if c.Follow, err = storeJSON(job.Follow); err != nil {
			return c, err
		}
	}
	if c.Alerts, err = storeAlertRules(job.Alerts); err != nil {
		return c, err
	}
	c.From, c.Retain = nullIfEmpty(job.From), nullIfEmpty(job.Retain)
	return c, nil
}

// LoadJob sets job's follow, from, retain and alerts from what StoreJob
// stored.
func (c JobColumns) LoadJob(job *Job) error {
	if err := loadJSON(c.Follow, &job.Follow); err != nil {
		return err
	}
	var err error
	if job.Alerts, err = loadAlertRules(c.Alerts); err != nil {
		return err
	}
	job.From, job.Retain = deref(c.From), deref(c.Retain)
	return nil
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// storeAlertRules encodes alert rules with their whole webhook URLs; none
// gives nil.
func storeAlertRules(rules []AlertRule) (*string, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	stored := make([]storedAlertRule, len(rules))
	for i, r := range rules {
		stored[i] = storedAlertRule(r)
	}
	return storeJSON(stored)
}

// loadAlertRules decodes what storeAlertRules stored.
func loadAlertRules(text *string) ([]AlertRule, error) {
	var stored []storedAlertRule
	if err := loadJSON(text, &stored); err != nil || stored == nil {
		return nil, err
	}
	rules := make([]AlertRule, len(stored))
	for i, r := range stored {
		rules[i] = AlertRule(r)
	}
	return rules, nil
}

// StoreFollowState encodes a run's follow state with its positions, times
// in UTC; nil gives nil.
func StoreFollowState(s *FollowState) (*string, error) {
	if s == nil {
		return nil, nil
	}
	stored := storedFollowState{FollowState: *s, Positions: s.Positions, Seq: s.Seq, JobSecrets: s.JobSecrets}
	stored.Since = utcPtr(s.Since)
	if s.Files != nil {
		stored.Files = make([]FileState, len(s.Files))
		for i, f := range s.Files {
			f.Since = f.Since.UTC()
			stored.Files[i] = f
		}
	}
	return storeJSON(stored)
}

// LoadFollowState decodes what StoreFollowState stored.
func LoadFollowState(text *string) (*FollowState, error) {
	if text == nil {
		return nil, nil
	}
	var stored storedFollowState
	if err := loadJSON(text, &stored); err != nil {
		return nil, err
	}
	for i := range stored.Files {
		stored.Files[i].Since = stored.Files[i].Since.UTC()
	}
	state := stored.FollowState
	state.Since, state.Positions = utcPtr(state.Since), stored.Positions
	state.Seq, state.JobSecrets = stored.Seq, stored.JobSecrets
	return &state, nil
}

func storeJSON(v any) (*string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	s := string(b)
	return &s, nil
}

func loadJSON(text *string, v any) error {
	if text == nil {
		return nil
	}
	if err := json.Unmarshal([]byte(*text), v); err != nil {
		return fmt.Errorf("decode stored %T: %w", v, err)
	}
	return nil
}

// utcPtr is a copy of t in UTC; nil stays nil.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
