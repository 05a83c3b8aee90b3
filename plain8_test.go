package gaffer

import (
	"encoding/binary"
	"math/rand"
	"testing"
	"unicode/utf8"
)

// plain8 says of 8 bytes what the byte-by-byte test says of each: every
// byte value at every position, beside plain ones, and random words.
func TestPlain8(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf }
	want := func(b []byte) bool {
		for _, c := range b {
			if !plain(c) {
				return false
			}
		}
		return true
	}
	check := func(b []byte) {
		t.Helper()
		if got := plain8(binary.LittleEndian.Uint64(b)); got != want(b) {
			t.Fatalf("plain8(%q) = %v", b, got)
		}
	}
	for _, base := range []byte{'a', ' ', '~', '0'} {
		for c := 0; c < 256; c++ {
			for pos := 0; pos < 8; pos++ {
				b := []byte{base, base, base, base, base, base, base, base}
				b[pos] = byte(c)
				check(b)
			}
		}
	}
	rng := rand.New(rand.NewSource(1))
	b := make([]byte, 8)
	for range 200000 {
		for i := range b {
			// Mostly plain bytes, with the edges around the special ones.
			switch rng.Intn(4) {
			case 0:
				b[i] = byte(rng.Intn(256))
			case 1:
				b[i] = []byte{0x1f, 0x20, 0x21, '"', 0x23, 0x5b, '\\', 0x5d, 0x7f, 0x80, 0xff, 0}[rng.Intn(12)]
			default:
				b[i] = byte(0x20 + rng.Intn(0x5f))
			}
		}
		check(b)
	}
}
