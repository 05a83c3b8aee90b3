package web_test

import (
	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/memstore"
	"github.com/gaffer-dev/gaffer/web"
)

// newAuth is an Auth with admin token tok over a fresh in-memory store
// (internal/memstore, held to the real stores' contract).
func newAuth(tok string) *web.Auth {
	return &web.Auth{AdminTokenHash: gaffer.HashSecret(tok), Store: memstore.New()}
}
