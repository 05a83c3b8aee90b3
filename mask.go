package gaffer

import (
	"bytes"
	"encoding/base64"
	"slices"
)

// Masked is what a secret value is replaced with in job output.
const Masked = "***"

// Masker knows the forms of secret values to hide from job output: each
// value as is, and its base64 in the standard and URL alphabets at the three
// alignments it can have inside a longer base64 stream (only the characters
// that depend on the value alone). It is immutable and safe to share; the
// per-stream state lives in the Framer.
type Masker struct {
	pats   [][]byte
	maxLen int
	first  [256]bool // bytes a pattern starts with: others start no match
}

// minPattern is the shortest form masked: shorter base64 fragments would
// hide ordinary output.
const minPattern = 4

// flushMaskMin: a held possible start of a secret this long or longer is
// masked when the quiet flush passes it on.
const flushMaskMin = 3

// NewMasker returns a Masker for values; empty values are ignored. It
// returns nil when there is nothing to mask.
func NewMasker(values ...string) *Masker {
	m := &Masker{}
	seen := map[string]bool{}
	add := func(p string) {
		if p == "" || seen[p] {
			return
		}
		seen[p] = true
		m.pats = append(m.pats, []byte(p))
		m.first[p[0]] = true
		if len(p) > m.maxLen {
			m.maxLen = len(p)
		}
	}
	for _, v := range values {
		if v == "" {
			continue
		}
		add(v)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			for a := 0; a < 3; a++ {
				if p := base64Core(enc, v, a); len(p) >= minPattern {
					add(p)
				}
			}
		}
	}
	if len(m.pats) == 0 {
		return nil
	}
	return m
}

// base64Core is the part of the base64 of v, preceded by a bytes of
// anything, that depends on v alone: the characters mixing v with the bytes
// around it are left out, and so is padding.
func base64Core(enc *base64.Encoding, v string, a int) string {
	buf := make([]byte, a+len(v))
	copy(buf[a:], v)
	s := enc.WithPadding(base64.NoPadding).EncodeToString(buf)
	skip := []int{0, 2, 3}[a]    // characters holding bits of the a bytes before
	full := (a + len(v)) * 8 / 6 // characters made of whole input bits
	if skip >= full {
		return ""
	}
	return s[skip:full]
}

// String masks every form of a secret in s, for text that is not streamed.
func (m *Masker) String(s string) string {
	if m == nil {
		return s
	}
	out, _ := m.mask([]byte(s), 0, true)
	return string(out)
}

// maskState is one stream's place in masking: done is the raw tail of what
// was already passed on (a match starting there and ending in new data
// masks its new part), held is raw output not passed on yet because it could
// be the start of a secret.
type maskState struct {
	done, held []byte
}

// write masks p and returns what may be passed on now; a tail that could be
// the start of a secret is held until more output or flush.
func (st *maskState) write(m *Masker, p []byte) []byte {
	buf := make([]byte, 0, len(st.done)+len(st.held)+len(p))
	buf = append(append(append(buf, st.done...), st.held...), p...)
	d := len(st.done)
	out, h := m.mask(buf, d, false)
	st.held = append([]byte(nil), buf[d+h:]...)
	st.remember(m, buf[:d+h])
	return out
}

// flush passes on the held tail, a proper prefix of a secret: masked unless
// it is shorter than flushMaskMin bytes (a lone "h" at a prompt's end stays
// readable). The secret's continuation, if it comes later, is masked
// through done, so at most flushMaskMin-1 leading bytes are ever shown.
func (st *maskState) flush(m *Masker) []byte {
	if len(st.held) == 0 {
		return nil
	}
	held := st.held
	st.held = nil
	st.remember(m, append(append([]byte(nil), st.done...), held...))
	if len(held) >= flushMaskMin {
		return []byte(Masked)
	}
	return held
}

func (st *maskState) remember(m *Masker, raw []byte) {
	keep := m.maxLen - 1
	if len(raw) > keep {
		raw = raw[len(raw)-keep:]
	}
	st.done = append(st.done[:0:0], raw...)
}

func (m *Masker) isPrefix(b []byte) bool {
	for _, p := range m.pats {
		if len(b) < len(p) && bytes.HasPrefix(p, b) {
			return true
		}
	}
	return false
}

// mask replaces matches in buf that reach past base (buf[:base] was passed
// on already) with Masked, a run of overlapping matches being one Masked,
// and returns the masked bytes of buf[base:] that may be passed on and how
// many bytes of buf[base:] they cover: unless final, a tail that is a
// proper prefix of a secret is left out.
func (m *Masker) mask(buf []byte, base int, final bool) ([]byte, int) {
	var spans [][2]int
	for _, pat := range m.pats {
		for from := 0; ; {
			i := bytes.Index(buf[from:], pat)
			if i < 0 {
				break
			}
			s := from + i
			if s+len(pat) > base {
				spans = append(spans, [2]int{max(s, base), s + len(pat)})
			}
			from = s + 1
		}
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	end := base
	for _, sp := range spans {
		end = max(end, sp[1])
	}
	h := len(buf)
	if !final {
		for i := max(end, len(buf)-m.maxLen+1, base); i < len(buf); i++ {
			if m.first[buf[i]] && m.isPrefix(buf[i:]) {
				h = i
				break
			}
		}
	}
	out := make([]byte, 0, h-base+len(Masked))
	at := base
	for k := 0; k < len(spans); {
		start, stop := spans[k][0], spans[k][1]
		for k++; k < len(spans) && spans[k][0] <= stop; k++ {
			stop = max(stop, spans[k][1])
		}
		out = append(out, buf[at:start]...)
		out = append(out, Masked...)
		at = stop
	}
	if at < h {
		out = append(out, buf[at:h]...)
	}
	return out, h - base
}
