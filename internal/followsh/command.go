package followsh

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"strconv"
	"strings"
)

// script polls the files: see its header for what it prints. The
// transport runs it in the host's shell, one per host however many files
// it follows.
//
//go:embed script.sh
var script string

// command is the script with its inputs in front, every value quoted.
func (f *follower) command(nonce string) string {
	var b strings.Builder
	set := func(name, value string) { b.WriteString(name + "=" + shellQuote(value) + "\n") }
	set("GF_NONCE", nonce)
	set("GF_FROM", map[bool]string{true: "start", false: "end"}[f.spec.FromStart])
	set("GF_FRESH", map[bool]string{true: "1", false: "0"}[f.fresh])
	set("GF_NPAT", strconv.Itoa(len(f.spec.Paths)))
	for i, p := range f.spec.Paths {
		set("GF_PAT_"+strconv.Itoa(i+1), p)
	}
	positions := f.pos.List()
	set("GF_NPOS", strconv.Itoa(len(positions)))
	for i, p := range positions {
		n := strconv.Itoa(i + 1)
		set("GF_PP_"+n, p.Path)
		set("GF_PI_"+n, p.FileID)
		set("GF_PO_"+n, strconv.FormatInt(p.Offset, 10))
	}
	b.WriteString(script)
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func newNonce() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
