package storetest

import (
	"context"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// Settings is the key/value part of a store the server keeps its admin token
// hash and cookie secret in.
type Settings interface {
	Setting(ctx context.Context, key string) (string, error)
	SetSetting(ctx context.Context, key, value string) error
}

// RunSettings is the contract for Settings: a missing key is ENOTFOUND with
// a message naming it; values round-trip exactly and can be overwritten.
func RunSettings(t *testing.T, db Settings) {
	t.Helper()
	ctx := t.Context()
	_, err := db.Setting(ctx, "admin_token_hash")
	if gaffer.ErrorCode(err) != gaffer.ENOTFOUND {
		t.Fatalf("missing setting: error = %v, want ENOTFOUND", err)
	} else if msg := gaffer.ErrorMessage(err); msg != `setting "admin_token_hash" does not exist` {
		t.Fatalf("missing setting: message = %q", msg)
	}
	for _, tt := range []struct{ key, value string }{
		{"admin_token_hash", "$2a$10$abcdefghijklmnopqrstuv"},
		{"cookie_secret", "c2VjcmV0IGJ5dGVzIGhlcmU="},
		{"admin_token_hash", "replaced"}, // overwrites
		{"empty", ""},
		{"ünïcode ✓", "値"},
	} {
		if err := db.SetSetting(ctx, tt.key, tt.value); err != nil {
			t.Fatalf("SetSetting(%q): %v", tt.key, err)
		}
		if got, err := db.Setting(ctx, tt.key); err != nil {
			t.Fatalf("Setting(%q): %v", tt.key, err)
		} else if got != tt.value {
			t.Fatalf("Setting(%q) = %q, want %q", tt.key, got, tt.value)
		}
	}
	if got, _ := db.Setting(ctx, "cookie_secret"); got != "c2VjcmV0IGJ5dGVzIGhlcmU=" {
		t.Fatalf("cookie_secret = %q after other writes", got)
	}
}
