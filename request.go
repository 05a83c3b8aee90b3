package gaffer

import (
	"encoding/json"
	"sort"
	"strings"
)

// JobRequest is what a client asks for when it starts a job.
type JobRequest struct {
	Command     string   `json:"command"`
	Hosts       []string `json:"hosts"`
	Selector    string   `json:"selector"`
	Timeout     Duration `json:"timeout"`
	PTY         bool     `json:"pty"`
	Concurrency int      `json:"concurrency"`
	// Secrets are given to the command as environment variables and masked
	// in its output; they are never stored or returned.
	Secrets map[string]string `json:"secrets,omitempty"`

	// Follow makes a follow job (instead of Command): the files (paths or
	// globs) to follow on each host, from their end, or from their start
	// with From "start".
	Follow []string `json:"follow,omitempty"`
	From   string   `json:"from,omitempty"`
	// Retain bounds the log a long job keeps ("1GB", "7d"; ParseRetention).
	Retain string `json:"retain,omitempty"`
	// Alerts mark matching records and POST them to webhooks.
	Alerts []AlertRule `json:"alerts,omitempty"`
}

// MarshalJSON sends the request with its webhooks whole: a request is its
// author's, on its way to the server (AlertRule.MarshalJSON redacts them
// everywhere else).
func (r JobRequest) MarshalJSON() ([]byte, error) {
	type plain JobRequest
	v := struct {
		plain
		Alerts []storedAlertRule `json:"alerts,omitempty"`
	}{plain: plain(r)}
	for _, a := range r.Alerts {
		v.Alerts = append(v.Alerts, storedAlertRule(a))
	}
	return json.Marshal(v)
}

// Limits of a job's secrets.
const (
	MaxSecrets     = 64
	MaxSecretValue = 4 << 10
	MinSecretValue = 4
)

// MaxCommand bounds the command line a job may hold.
const MaxCommand = 64 << 10

// Validate checks the request on its own, before hosts are resolved.
func (r *JobRequest) Validate() error {
	if err := r.validateFollow(); err != nil {
		return err
	}
	command := len(r.Follow) == 0 // a follow job has no command
	switch {
	case command && strings.TrimSpace(r.Command) == "":
		return Errorf(EINVALID, "command is empty: say what to run, e.g. {\"command\": \"uptime\", \"hosts\": [\"local\"]}")
	case command && len(r.Command) > MaxCommand:
		return Errorf(EINVALID, "command is %d bytes long; the limit is %d", len(r.Command), MaxCommand)
	case command && strings.IndexByte(r.Command, 0) >= 0:
		return Errorf(EINVALID, "command holds a NUL byte")
	case len(r.Hosts) == 0 && strings.TrimSpace(r.Selector) == "":
		return Errorf(EINVALID, "no hosts: give \"hosts\" (names) or \"selector\" (e.g. \"role=web\")")
	case r.Concurrency < 0:
		return Errorf(EINVALID, "concurrency must be a positive number, not %d", r.Concurrency)
	}
	if err := validateSecrets(r.Secrets); err != nil {
		return err
	}
	_, err := ParseSelector(r.Selector)
	return err
}

// validateFollow checks the parts of a follow job, and of long jobs in
// general (retain, alerts).
func (r *JobRequest) validateFollow() error {
	if len(r.Follow) > 0 {
		switch {
		case strings.TrimSpace(r.Command) != "":
			return Errorf(EINVALID, "give either \"command\" or \"follow\", not both")
		case r.PTY:
			return Errorf(EINVALID, "\"pty\" is for commands; a follow job reads files")
		}
		spec := FollowSpec{Paths: r.Follow}
		if err := spec.Validate(); err != nil {
			return err
		}
	}
	switch r.From {
	case "", "end":
	case "start":
		if len(r.Follow) == 0 {
			return Errorf(EINVALID, "\"from\" is for follow jobs")
		}
	default:
		return Errorf(EINVALID, "from %q: use \"end\" (new lines only, the default) or \"start\" (whole files)", r.From)
	}
	if _, err := ParseRetention(r.Retain); err != nil {
		return err
	}
	if len(r.Alerts) > MaxAlertRules {
		return Errorf(EINVALID, "alerts: %d given; the limit is %d", len(r.Alerts), MaxAlertRules)
	}
	for i := range r.Alerts {
		if err := r.Alerts[i].Validate(); err != nil {
			return err
		}
	}
	return nil
}

// FollowCommand describes a follow job where a command is shown (job
// lists, the audit trail): "follow /var/log/a.log /srv/*.log".
func FollowCommand(paths []string) string {
	return "follow " + strings.Join(paths, " ")
}

// validateSecrets checks names and sizes; messages never hold a value.
func validateSecrets(secrets map[string]string) error {
	if len(secrets) > MaxSecrets {
		return Errorf(EINVALID, "%d secrets; the limit is %d", len(secrets), MaxSecrets)
	}
	for name, v := range secrets {
		switch {
		case !ValidEnvName(name):
			return Errorf(EINVALID, "secret name %q is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", name)
		case len(v) < MinSecretValue:
			return Errorf(EINVALID, "secret %s is shorter than %d bytes: too short to mask without hiding ordinary output", name, MinSecretValue)
		case len(v) > MaxSecretValue:
			return Errorf(EINVALID, "secret %s is %d bytes long; the limit is %d", name, len(v), MaxSecretValue)
		case strings.IndexByte(v, 0) >= 0:
			return Errorf(EINVALID, "secret %s holds a NUL byte", name)
		}
	}
	return nil
}

// ValidEnvName reports whether s is an environment variable name a shell
// accepts: [A-Za-z_][A-Za-z0-9_]*.
func ValidEnvName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Selector is a set of label=value pairs a host must all have.
type Selector map[string]string

// ParseSelector reads "role=web,env=prod". An empty string is an empty selector.
func ParseSelector(s string) (Selector, error) {
	sel := Selector{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, Errorf(EINVALID, "selector %q: %q is not label=value", s, part)
		}
		sel[k] = v
	}
	return sel, nil
}

// Matches reports whether h has every label of the selector.
func (s Selector) Matches(h *Host) bool {
	for k, v := range s {
		if h.Labels[k] != v {
			return false
		}
	}
	return true
}

// ResolveHosts picks the hosts a request names, in inventory order: the named
// ones plus those matching the selector. Unknown names are an EINVALID error
// naming them all.
func ResolveHosts(inventory []Host, names []string, selector string) ([]Host, error) {
	sel, err := ParseSelector(selector)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[strings.TrimSpace(n)] = true
	}
	var out []Host
	for i := range inventory {
		h := &inventory[i]
		if want[h.Name] || (len(sel) > 0 && sel.Matches(h)) {
			out = append(out, *h)
		}
		delete(want, h.Name)
	}
	if len(want) > 0 {
		var unknown []string
		for n := range want {
			unknown = append(unknown, n)
		}
		sort.Strings(unknown)
		return nil, Errorf(EINVALID, "unknown host: %s (see GET /api/hosts or `gaffer hosts`)", strings.Join(unknown, ", "))
	}
	if len(out) == 0 {
		return nil, Errorf(EINVALID, "selector %q matches no host", selector)
	}
	return out, nil
}
