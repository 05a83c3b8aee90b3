package memstore_test

import (
	"testing"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/memstore"
	"github.com/gaffer-dev/gaffer/storetest"
)

// The tests' store meets the contract the real stores meet.

func TestAuthStore(t *testing.T) {
	storetest.RunAuth(t, func(t *testing.T) gaffer.AuthStore { return memstore.New() })
}

func TestAuditLog(t *testing.T) {
	storetest.RunAudit(t, func(t *testing.T) gaffer.AuditLog { return memstore.New() })
}

func TestHostKeyStore(t *testing.T) {
	storetest.RunHostKeys(t, func(t *testing.T) gaffer.HostKeyStore { return memstore.New() })
}
