package sshexec_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/memstore"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
	"github.com/gaffer-dev/gaffer/sshexec"
	"golang.org/x/crypto/ssh"
)

// fakeHostKeys is the in-memory gaffer.HostKeyStore (internal/memstore,
// held to the real stores' contract) that counts offers and can fail.
type fakeHostKeys struct {
	memstore.Store
	mu     sync.Mutex
	fail   error // returned by every method when set
	offers int   // OfferHostKey calls
}

func (f *fakeHostKeys) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail
}

func (f *fakeHostKeys) OfferHostKey(ctx context.Context, k *gaffer.HostKey) error {
	f.mu.Lock()
	f.offers++
	f.mu.Unlock()
	if err := f.failed(); err != nil {
		return err
	}
	return f.Store.OfferHostKey(ctx, k)
}

func (f *fakeHostKeys) FindHostKeys(ctx context.Context, host string) ([]*gaffer.HostKey, error) {
	if err := f.failed(); err != nil {
		return nil, err
	}
	return f.Store.FindHostKeys(ctx, host)
}

func (f *fakeHostKeys) ApproveHostKey(ctx context.Context, host, fp, by string, at time.Time, replace bool) (*gaffer.HostKey, []string, error) {
	if err := f.failed(); err != nil {
		return nil, nil, err
	}
	return f.Store.ApproveHostKey(ctx, host, fp, by, at, replace)
}

// key returns host's key with fingerprint fp, or nil.
func (f *fakeHostKeys) key(host, fp string) *gaffer.HostKey {
	keys, _ := f.FindHostKeys(context.Background(), host)
	for _, k := range keys {
		if k.Fingerprint == fp {
			return k
		}
	}
	return nil
}

// storeExecutor is an executor with a host-key store and no known_hosts
// file at all: the store alone decides.
func storeExecutor(t *testing.T, store gaffer.HostKeyStore) *sshexec.Executor {
	t.Helper()
	e := &sshexec.Executor{
		KnownHostsFile: filepath.Join(t.TempDir(), "missing_known_hosts"),
		IdentityFiles:  []string{"/nonexistent/id_ed25519"},
		HostKeys:       store,
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func execErr(t *testing.T, e *sshexec.Executor, h gaffer.Host) (string, error) {
	t.Helper()
	var out strings.Builder
	r := e.Exec(context.Background(), &h, gaffer.ExecSpec{Command: "echo ran"}, &out, nil)
	if r.Err == nil && r.ExitCode != 0 {
		t.Fatalf("exit code %d", r.ExitCode)
	}
	return out.String(), r.Err
}

func wantAll(t *testing.T, msg string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q:\n%s", w, msg)
		}
	}
}

// Unknown → refused and listed as pending → approved → runs; then the
// host's key changes → refused with both fingerprints, the new key pending,
// the approved one kept; replacing it deliberately → runs.
func TestHostKeyApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first := sshtest.Start(t, sshtest.Options{Hosts: 1})
	store := &fakeHostKeys{}
	e := storeExecutor(t, store)
	h := first.Hosts()[0]
	h.Name = "web-1"
	fp := first.HostKeyFingerprint()

	_, err := execErr(t, e, h)
	if gaffer.ErrorCode(err) != gaffer.EINVALID {
		t.Fatalf("unknown key: err = %v, want EINVALID", err)
	}
	wantAll(t, gaffer.ErrorMessage(err), "unknown host key for web-1 ("+first.Addrs[0]+")",
		"it offered ssh-ed25519 "+fp, "`gaffer hosts approve web-1`", "Hosts page")
	pending := store.key("web-1", fp)
	if pending == nil || pending.State != gaffer.HostKeyPending || pending.Type != "ssh-ed25519" ||
		pending.Address != "[127.0.0.2]:"+strconv.Itoa(first.Port) || !strings.HasPrefix(pending.Key, "ssh-ed25519 AAAA") ||
		pending.FirstSeen.IsZero() {
		t.Fatalf("pending key: %+v", pending)
	}
	// Refused again, still one pending key.
	if _, err := execErr(t, e, h); err == nil {
		t.Fatal("unapproved key accepted")
	}
	if keys, _ := store.FindHostKeys(ctx, "web-1"); len(keys) != 1 {
		t.Fatalf("keys after a second offer: %d", len(keys))
	}
	if got, err := e.Fingerprints(ctx, &h); err != nil || len(got) != 0 {
		t.Fatalf("Fingerprints before approval = %v, %v", got, err)
	}

	if _, _, err := store.ApproveHostKey(ctx, "web-1", fp, "alice", time.Now(), false); err != nil {
		t.Fatal(err)
	}
	if out, err := execErr(t, e, h); err != nil || out != "ran\n" {
		t.Fatalf("after approval: %q, %v", out, err)
	}
	if got, err := e.Fingerprints(ctx, &h); err != nil || !reflect.DeepEqual(got, []string{fp}) {
		t.Fatalf("Fingerprints = %v, %v; want [%s]", got, err, fp)
	}

	// The host is reinstalled: same name, another key.
	second := sshtest.Start(t, sshtest.Options{Hosts: 1, NewHostKey: true})
	h2 := second.Hosts()[0]
	h2.Name = "web-1"
	newFP := second.HostKeyFingerprint()
	_, err = execErr(t, e, h2)
	if err == nil {
		t.Fatal("changed key accepted")
	}
	wantAll(t, gaffer.ErrorMessage(err), "host key mismatch for web-1", "offered ssh-ed25519 "+newFP,
		"ssh-ed25519 "+fp+" (approved by alice)", "never replaced automatically", "`gaffer hosts approve web-1 --replace`")
	if k := store.key("web-1", newFP); k == nil || k.State != gaffer.HostKeyPending {
		t.Fatalf("changed key not pending: %+v", k)
	}
	if k := store.key("web-1", fp); k == nil || k.State != gaffer.HostKeyApproved {
		t.Fatalf("approved key touched: %+v", k)
	}
	// Still refused on the next try: nothing changed by itself.
	if _, err := execErr(t, e, h2); err == nil {
		t.Fatal("changed key accepted on the second try")
	}

	if _, _, err := store.ApproveHostKey(ctx, "web-1", newFP, "bob", time.Now(), true); err != nil {
		t.Fatal(err)
	}
	if out, err := execErr(t, e, h2); err != nil || out != "ran\n" {
		t.Fatalf("after --replace: %q, %v", out, err)
	}
	if _, err := execErr(t, storeExecutor(t, store), h); err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("the replaced key: err = %v", err)
	}
}

// With a store, the known_hosts file still counts: its keys pass, and a key
// different from its entry is refused naming both, file line included.
func TestHostKeyFileAndStore(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	h := s.Hosts()[0]

	store := &fakeHostKeys{}
	e := storeExecutor(t, store)
	e.KnownHostsFile = s.KnownHosts
	if out, err := execErr(t, e, h); err != nil || out != "ran\n" {
		t.Fatalf("key in the file: %q, %v", out, err)
	}
	if keys, _ := store.FindHostKeys(context.Background(), ""); len(keys) != 0 {
		t.Fatalf("a file-known key was recorded: %+v", keys[0])
	}
	if got, _ := e.Fingerprints(context.Background(), &h); !reflect.DeepEqual(got, []string{s.HostKeyFingerprint()}) {
		t.Fatalf("Fingerprints = %v", got)
	}

	wrong := s.WriteKnownHosts(t, sshtest.KnownHostsOptions{WrongKey: true})
	e = storeExecutor(t, store)
	e.KnownHostsFile = wrong
	_, err := execErr(t, e, h)
	if err == nil {
		t.Fatal("key different from the file's accepted")
	}
	wantAll(t, gaffer.ErrorMessage(err), "host key mismatch for host-1", s.HostKeyFingerprint(), wrong+" line 1",
		"never replaced automatically", "gaffer hosts approve host-1 --replace")
	if k := store.key("host-1", s.HostKeyFingerprint()); k == nil || k.State != gaffer.HostKeyPending {
		t.Fatalf("offered key not pending: %+v", k)
	}
}

// A store that cannot be read refuses keys the file does not know, saying
// so without its internal error; the file's keys still pass.
func TestHostKeyStoreDown(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	h := s.Hosts()[0]
	store := &fakeHostKeys{fail: errors.New("pq: connection refused to 10.1.2.3")}
	e := storeExecutor(t, store)
	_, err := execErr(t, e, h)
	if gaffer.ErrorCode(err) != gaffer.EUNAVAILABLE || strings.Contains(err.Error(), "10.1.2.3") {
		t.Fatalf("store down: %v", err)
	}
	e = storeExecutor(t, store)
	e.KnownHostsFile = s.KnownHosts
	if out, err := execErr(t, e, h); err != nil || out != "ran\n" {
		t.Fatalf("store down, key in the file: %q, %v", out, err)
	}
}

// Jump hosts are checked the same way: an unknown bastion is listed under
// its own name.
func TestHostKeyJumpHost(t *testing.T) {
	t.Parallel()
	js := newJumpSetup(t)
	store := &fakeHostKeys{}
	e := storeExecutor(t, store)
	e.KnownHostsFile = js.target.KnownHosts
	_, err := execErr(t, e, js.hosts[0])
	wantAll(t, gaffer.ErrorMessage(err), "unknown host key for bastion", "gaffer hosts approve bastion")
	fp := js.bastion.HostKeyFingerprint()
	if _, _, err := store.ApproveHostKey(context.Background(), "bastion", fp, "alice", time.Now(), false); err != nil {
		t.Fatalf("approve the bastion: %v", err)
	}
	if out, err := execErr(t, e, js.hosts[0]); err != nil || out != "ran\n" {
		t.Fatalf("through the approved bastion: %q, %v", out, err)
	}
}

// The managed known_hosts file holds exactly the approved keys, and both
// an executor without a store and OpenSSH's ssh accept the host with it.
func TestManagedKnownHosts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := sshtest.Start(t, sshtest.Options{Hosts: 2})
	store := &fakeHostKeys{}
	e := storeExecutor(t, store)
	hosts := s.Hosts()
	for _, h := range hosts {
		execErr(t, e, h) // both pending
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	m := &sshexec.ManagedKnownHosts{HostKeyStore: store, Path: path}
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "ssh-ed25519 AAAA") {
		t.Fatalf("pending keys written:\n%s", b)
	}
	if _, _, err := m.ApproveHostKey(ctx, "host-1", s.HostKeyFingerprint(), "alice", time.Now(), false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "[127.0.0.2]:" + strconv.Itoa(s.Port) + " ssh-ed25519 AAAA"
	if !strings.Contains(string(b), want) || strings.Contains(string(b), "127.0.0.3") || !strings.Contains(string(b), "approved by alice") {
		t.Fatalf("managed file lacks %q or holds the pending host:\n%s", want, b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}

	plain := &sshexec.Executor{KnownHostsFile: path, IdentityFiles: []string{"/nonexistent"}}
	defer plain.Close()
	if out, err := execErr(t, plain, hosts[0]); err != nil || out != "ran\n" {
		t.Fatalf("executor with the managed file: %q, %v", out, err)
	}
	if _, err := execErr(t, plain, hosts[1]); err == nil {
		t.Fatal("the pending host passed with the managed file")
	}
	out, err := exec.Command("ssh", "-F", "/dev/null", "-o", "UserKnownHostsFile="+path, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", s.KeyFile,
		"-p", strconv.Itoa(s.Port), s.User+"@127.0.0.2", "echo", "ssh-ran").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ssh-ran") {
		t.Fatalf("ssh -o UserKnownHostsFile=managed: %v\n%s", err, out)
	}
}

// The approved keys' types are asked for: with only the host's RSA key
// approved, the handshake asks for RSA, though ed25519 is preferred.
func TestHostKeyApprovedTypeNegotiated(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	h := s.Hosts()[0]
	rsaKey := offeredKey(t, s, ssh.KeyAlgoRSASHA512)
	store := &fakeHostKeys{}
	store.OfferHostKey(context.Background(), &gaffer.HostKey{Host: "host-1", Type: rsaKey.Type(),
		Fingerprint: ssh.FingerprintSHA256(rsaKey), Key: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(rsaKey))), LastSeen: time.Now()})
	if _, _, err := store.ApproveHostKey(context.Background(), "host-1", s.RSAHostKeyFingerprint(), "alice", time.Now(), false); err != nil {
		t.Fatal(err)
	}
	if out, err := execErr(t, storeExecutor(t, store), h); err != nil || out != "ran\n" {
		t.Fatalf("with the RSA key approved: %q, %v", out, err)
	}
	if keys, _ := store.FindHostKeys(context.Background(), "host-1"); len(keys) != 1 {
		t.Fatalf("another key was offered and recorded: %d keys", len(keys))
	}
}

// offeredKey is the host key s offers for the algorithm.
func offeredKey(t *testing.T, s *sshtest.Server, algo string) ssh.PublicKey {
	t.Helper()
	var got ssh.PublicKey
	c, err := ssh.Dial("tcp", s.Addrs[0], &ssh.ClientConfig{User: s.User, HostKeyAlgorithms: []string{algo},
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error { got = k; return errors.New("enough") },
		Timeout:         10 * time.Second})
	if c != nil {
		c.Close()
	}
	if got == nil {
		t.Fatalf("no host key for %s: %v", algo, err)
	}
	return got
}

// The known_hosts file is read again when it changes: an edit takes effect
// without a restart, also one that keeps its size (another key).
func TestKnownHostsFileEdited(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	h := s.Hosts()[0]
	path := filepath.Join(t.TempDir(), "known_hosts")
	e := newExecutor(t, s)
	e.KnownHostsFile = path
	wrongFile := s.WriteKnownHosts(t, sshtest.KnownHostsOptions{WrongKey: true})
	wrong, _ := os.ReadFile(wrongFile)
	right, _ := os.ReadFile(s.KnownHosts)
	if len(wrong) != len(right) {
		t.Fatalf("the wrong key's file is %d bytes, the right one's %d: the same-size case would prove nothing", len(wrong), len(right))
	}
	wrongFP, _ := (&sshexec.Executor{KnownHostsFile: wrongFile}).Fingerprints(context.Background(), &h)
	if len(wrongFP) != 1 || wrongFP[0] == s.HostKeyFingerprint() {
		t.Fatalf("the wrong key's fingerprints: %v", wrongFP)
	}
	for i, step := range []struct {
		content []byte
		want    []string
	}{{nil, nil}, {right, []string{s.HostKeyFingerprint()}}, {wrong, wrongFP}, {right, []string{s.HostKeyFingerprint()}}} {
		if err := os.WriteFile(path, step.content, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := e.Fingerprints(context.Background(), &h); err != nil || !slices.Equal(got, step.want) {
			t.Fatalf("step %d: Fingerprints = %v, %v; want %v", i, got, err, step.want)
		}
	}
	// And a connection uses what the file says now.
	if out, err := execErr(t, e, h); err != nil || out != "ran\n" {
		t.Fatalf("after the edits: %q, %v", out, err)
	}
}

// An approved key's last seen time is kept to the minute: a connection
// updates it only when it is older than that, not on every connection.
func TestHostKeyLastSeen(t *testing.T) {
	t.Parallel()
	s := sshtest.Start(t, sshtest.Options{Hosts: 1})
	h := s.Hosts()[0]
	// The key as the host offers it, last seen long ago and approved.
	probe := &fakeHostKeys{}
	execErr(t, storeExecutor(t, probe), h)
	fp := s.HostKeyFingerprint()
	k := probe.key("host-1", fp)
	if k == nil {
		t.Fatal("the host's key was not offered")
	}
	long := time.Now().Add(-2 * time.Hour)
	k.LastSeen = long
	store := &fakeHostKeys{}
	store.OfferHostKey(context.Background(), k)
	if _, _, err := store.ApproveHostKey(context.Background(), "host-1", fp, "alice", time.Now(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := execErr(t, storeExecutor(t, store), h); err != nil {
		t.Fatal(err)
	}
	if k := store.key("host-1", fp); !k.LastSeen.After(long) {
		t.Fatalf("last seen not updated: %v", k.LastSeen)
	}
	store.mu.Lock()
	before := store.offers
	store.mu.Unlock()
	if _, err := execErr(t, storeExecutor(t, store), h); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.offers != before {
		t.Fatalf("a connection right after the last update wrote again (%d offers, was %d)", store.offers, before)
	}
}
