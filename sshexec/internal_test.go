package sshexec

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"reflect"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestHostKeyAlgorithms(t *testing.T) {
	ed := known(t, ed25519Key(t))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rs := known(t, rsaKey.Public())
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec := known(t, ecKey.Public())
	all := []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}

	tests := []struct {
		name  string
		known []knownhosts.KnownKey
		want  []string
	}{
		{"unknown host: OpenSSH's preference", nil, all},
		{"ed25519 only", []knownhosts.KnownKey{ed}, []string{ssh.KeyAlgoED25519}},
		{"rsa only", []knownhosts.KnownKey{rs}, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}},
		{"rsa then ed25519: ed25519 preferred", []knownhosts.KnownKey{rs, ed}, []string{ssh.KeyAlgoED25519, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}},
		{"ecdsa", []knownhosts.KnownKey{ec}, []string{ssh.KeyAlgoECDSA256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hostKeyAlgorithms(tt.known); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func ed25519Key(t *testing.T) ed25519.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func known(t *testing.T, pub any) knownhosts.KnownKey {
	t.Helper()
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return knownhosts.KnownKey{Key: k, Filename: "known_hosts", Line: 1}
}
