package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// hostKeyApproval is the body of POST /api/hosts/{name}/keys/approve.
type hostKeyApproval struct {
	// Fingerprint may be left out when the host has exactly one pending key.
	Fingerprint string `json:"fingerprint"`
	// Replace approves a key although another is known for the host: the
	// host was reinstalled, and someone checked.
	Replace bool `json:"replace"`
}

// approvedHostKey is the answer of an approval: the key, and the
// fingerprints it replaced.
type approvedHostKey struct {
	*gaffer.HostKey
	Replaced []string `json:"replaced"`
}

func (s *Server) hostKeys() (gaffer.HostKeyStore, error) {
	if s.HostKeys == nil {
		return nil, gaffer.Errorf(gaffer.ENOTFOUND, "this server does not keep host keys for approval: its store has none")
	}
	return s.HostKeys, nil
}

// listHostKeys is GET /api/hosts/keys[?host=NAME]: the keys hosts offered
// (pending) and admins approved, by host. Fingerprints are not secret.
func (s *Server) listHostKeys(w http.ResponseWriter, r *http.Request) {
	store, err := s.hostKeys()
	if err != nil {
		s.error(w, r, err)
		return
	}
	keys, err := store.FindHostKeys(r.Context(), r.URL.Query().Get("host"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if keys == nil {
		keys = []*gaffer.HostKey{}
	}
	writeJSON(w, http.StatusOK, keys)
}

// approveHostKey is POST /api/hosts/{name}/keys/approve (admin).
func (s *Server) approveHostKey(w http.ResponseWriter, r *http.Request) {
	store, err := s.hostKeys()
	if err != nil {
		s.error(w, r, err)
		return
	}
	host := r.PathValue("name")
	var req hostKeyApproval
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		if err := decodeJSON(r, &req); err != nil {
			s.error(w, r, err)
			return
		}
	}
	req.Fingerprint = strings.TrimSpace(req.Fingerprint)
	if req.Fingerprint != "" && !strings.HasPrefix(req.Fingerprint, "SHA256:") {
		s.error(w, r, gaffer.Errorf(gaffer.EINVALID, "fingerprint %q is not a SHA256 fingerprint (SHA256:… as `gaffer hosts keys` shows it)", req.Fingerprint))
		return
	}
	if req.Fingerprint == "" {
		if req.Fingerprint, err = s.onlyPendingKey(r, store, host); err != nil {
			s.error(w, r, err)
			return
		}
	}
	if !req.Replace {
		if err := s.checkNotReplacing(r, host, req.Fingerprint); err != nil {
			s.error(w, r, err)
			return
		}
	}
	key, replaced, err := store.ApproveHostKey(r.Context(), host, req.Fingerprint, UserFrom(r.Context()).Name, time.Now().UTC(), req.Replace)
	if err != nil && key == nil {
		if gaffer.ErrorCode(err) == gaffer.ECONFLICT {
			// The store's message, and how to say "replace" here.
			err = gaffer.Errorf(gaffer.ECONFLICT, "%s (gaffer hosts approve %s --replace, or Replace… on the Hosts page)", gaffer.ErrorMessage(err), host)
		}
		s.error(w, r, err)
		return
	}
	if replaced == nil {
		replaced = []string{}
	}
	s.audit(r, gaffer.AuditHostKeyApprove, "host "+host, map[string]any{"fingerprint": key.Fingerprint, "replaced": replaced})
	if err != nil {
		// Approved, but the managed known_hosts file was not rewritten:
		// the store decides, so the approval stands; the file follows at
		// the next approval or start.
		s.Logger.Error("host key approved, but the managed known_hosts file was not written", "host", host, "err", err)
	}
	writeJSON(w, http.StatusOK, approvedHostKey{HostKey: key, Replaced: replaced})
}

// onlyPendingKey is the fingerprint of host's one pending key.
func (s *Server) onlyPendingKey(r *http.Request, store gaffer.HostKeyStore, host string) (string, error) {
	keys, err := store.FindHostKeys(r.Context(), host)
	if err != nil {
		return "", err
	}
	var pending []string
	for _, k := range keys {
		if k.State == gaffer.HostKeyPending {
			pending = append(pending, k.Fingerprint)
		}
	}
	switch len(pending) {
	case 0:
		return "", gaffer.Errorf(gaffer.ENOTFOUND, "%s has no host key waiting for approval (gaffer hosts keys lists them)", host)
	case 1:
		return pending[0], nil
	}
	return "", gaffer.Errorf(gaffer.EINVALID, "%s offered %d keys waiting for approval (%s): say which with its fingerprint",
		host, len(pending), strings.Join(pending, ", "))
}

// checkNotReplacing refuses to approve fingerprint for host while another
// key is trusted for it (the known_hosts file's, which the store does not
// know): a changed key is replaced only when asked to.
func (s *Server) checkNotReplacing(r *http.Request, host, fingerprint string) error {
	if s.HostKeyFingerprints == nil {
		return nil
	}
	trusted := s.HostKeyFingerprints(r.Context(), host)
	if len(trusted) == 0 || slices.Contains(trusted, fingerprint) {
		return nil
	}
	return gaffer.Errorf(gaffer.ECONFLICT, "%s already has a trusted host key (%s) and offered %s instead: a known key is never replaced automatically — if the host really changed, approve it with replace (gaffer hosts approve %s --replace)",
		host, strings.Join(trusted, ", "), fingerprint, host)
}

// hostRow is one host of the /hosts page.
type hostRow struct {
	gaffer.Host
	Keys []keyRow
	// FileKeys are fingerprints trusted by the known_hosts file alone.
	FileKeys  []string
	Inventory bool
}

type keyRow struct {
	*gaffer.HostKey
	// Changed: pending while another key is trusted; approving it replaces
	// that one.
	Changed bool
}

// hostsPage is /hosts: every inventory host with the keys it offered and
// their state, then the hosts (jump hosts) that offered keys without being
// in the inventory. Admins get an Approve button per pending key.
func (s *Server) hostsPage(w http.ResponseWriter, r *http.Request) {
	var keys []*gaffer.HostKey
	if s.HostKeys != nil {
		var err error
		if keys, err = s.HostKeys.FindHostKeys(r.Context(), ""); err != nil {
			s.error(w, r, err)
			return
		}
	}
	byHost := map[string][]*gaffer.HostKey{}
	for _, k := range keys {
		byHost[k.Host] = append(byHost[k.Host], k)
	}
	row := func(h gaffer.Host, inventory bool) hostRow {
		var trusted []string
		if !h.Local && s.HostKeyFingerprints != nil {
			trusted = s.HostKeyFingerprints(r.Context(), h.Name)
		}
		row := hostRow{Host: h, Inventory: inventory}
		inStore := map[string]bool{}
		for _, k := range byHost[h.Name] {
			inStore[k.Fingerprint] = true
			if k.State == gaffer.HostKeyApproved && !slices.Contains(trusted, k.Fingerprint) {
				trusted = append(trusted, k.Fingerprint)
			}
		}
		for _, fp := range trusted {
			if !inStore[fp] {
				row.FileKeys = append(row.FileKeys, fp)
			}
		}
		for _, k := range byHost[h.Name] {
			row.Keys = append(row.Keys, keyRow{HostKey: k,
				Changed: k.State == gaffer.HostKeyPending && len(trusted) > 0 && !slices.Contains(trusted, k.Fingerprint)})
		}
		return row
	}
	var rows []hostRow
	seen := map[string]bool{}
	for _, h := range s.Jobs.Hosts() {
		seen[h.Name] = true
		rows = append(rows, row(h, true))
	}
	for _, k := range keys {
		if !seen[k.Host] {
			seen[k.Host] = true
			rows = append(rows, row(gaffer.Host{Name: k.Host}, false))
		}
	}
	s.renderFor(w, r, http.StatusOK, "hosts", map[string]any{"Title": "Hosts", "Hosts": rows, "Managed": s.HostKeys != nil})
}
