package archive

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"unicode/utf8"

	"github.com/gaffer-dev/gaffer"
)

// A search's prefilter: a literal that every match contains, found in the
// raw bytes of a large chunk of the data file with a fast byte search, so
// that only the records around its occurrences are decoded and matched.

// matcher decides whether a record's data matches a query.
type matcher struct {
	re *regexp.Regexp
	// lit, when set, is a literal every match contains; fold: compared
	// without ASCII case (lit is then lower case).
	lit  []byte
	fold bool
	// exact: containing lit is matching (a plain substring query).
	exact bool
	// For fold: the byte of lit searched for first, the rarest in logs.
	anchor         int
	lo, up         byte
	nextLo, nextUp int // positions of lo and up found ahead (see index)
	// byAnchor: look for the anchor, then compare (tune decides it for
	// a case-sensitive literal; bytes.Index otherwise).
	byAnchor bool
}

// newMatcher plans the search of q, compiled to re.
func newMatcher(q *gaffer.SearchQuery, re *regexp.Regexp) *matcher {
	m := &matcher{re: re}
	if !q.Regex {
		m.setLit([]rune(q.Pattern), !q.Case)
		m.exact = m.lit != nil && len(m.lit) == len(q.Pattern)
		return m
	}
	expr := q.Pattern
	if !q.Case {
		expr = "(?i)" + expr
	}
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return m // Compile accepted it; without a literal, every record is matched
	}
	var best []byte
	bestFold := false
	for _, l := range requiredLiterals(parsed.Simplify()) {
		cand := &matcher{}
		cand.setLit(l.Rune, l.Flags&syntax.FoldCase != 0)
		if len(cand.lit) > len(best) {
			best, bestFold = cand.lit, cand.fold
		}
	}
	if best != nil {
		m.setLitBytes(best, bestFold)
	}
	return m
}

// requiredLiterals returns literal nodes that every match of re contains.
func requiredLiterals(re *syntax.Regexp) []*syntax.Regexp {
	switch re.Op {
	case syntax.OpLiteral:
		return []*syntax.Regexp{re}
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiterals(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLiterals(re.Sub[0])
		}
	case syntax.OpConcat:
		var out []*syntax.Regexp
		for _, sub := range re.Sub {
			out = append(out, requiredLiterals(sub)...)
		}
		return out
	}
	return nil
}

// setLit sets the longest part of runes that a byte search can find: the
// runes' UTF-8 bytes, except U+FFFD (which matches invalid bytes); without
// case (fold), only ASCII, and not k or s, which also match non-ASCII
// letters (K, ſ).
func (m *matcher) setLit(runes []rune, fold bool) {
	var best, cur []byte
	for _, r := range runes {
		ok := r != utf8.RuneError
		if fold {
			ok = r < utf8.RuneSelf && r != 'k' && r != 'K' && r != 's' && r != 'S'
		}
		if !ok {
			cur = cur[:0]
			continue
		}
		if fold && 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		cur = utf8.AppendRune(cur, r)
		if len(cur) > len(best) {
			best = append(best[:0], cur...)
		}
	}
	if len(best) > 0 {
		m.setLitBytes(best, fold)
	}
}

func (m *matcher) setLitBytes(lit []byte, fold bool) {
	m.lit, m.fold = lit, fold
	// The anchor: the byte of lit least common in text, until tune
	// counts them in the log.
	const common = " eEtTaAoOiInNsSrRhHlLdDcCuUmMfFpPgGwWyYbBvVkK0123456789:.-=/_,"
	rank := func(c byte) int {
		if i := bytes.IndexByte([]byte(common), c); i >= 0 {
			return i
		}
		return len(common)
	}
	anchor := 0
	for i := range lit {
		if rank(lit[i]) > rank(lit[anchor]) {
			anchor = i
		}
	}
	m.setAnchor(anchor)
}

func (m *matcher) setAnchor(i int) {
	m.anchor = i
	m.lo, m.up = m.lit[i], m.lit[i]
	if m.fold && 'a' <= m.lo && m.lo <= 'z' {
		m.up = m.lo - ('a' - 'A')
	}
}

// tune picks as anchor the byte of lit least frequent in sample, a part
// of the log. Without case it is always used; with case, only if rare
// enough to beat bytes.Index.
func (m *matcher) tune(sample []byte) {
	if m.lit == nil {
		return
	}
	var h [256]int
	for _, c := range sample {
		h[c]++
	}
	freq := func(i int) int {
		c := m.lit[i]
		if m.fold && 'a' <= c && c <= 'z' {
			return h[c] + h[c-('a'-'A')]
		}
		return h[c]
	}
	best := 0
	for i := range m.lit {
		if freq(i) < freq(best) {
			best = i
		}
	}
	m.setAnchor(best)
	m.byAnchor = m.fold || freq(best)*64 < len(sample)
}

// newText tells index that the text it searches changed.
func (m *matcher) newText() { m.nextLo, m.nextUp = -2, -2 }

// index returns the position of the first occurrence of lit in s at or
// after from, -1 if none. Calls with growing from on the same s (until
// newText) reuse what was found.
func (m *matcher) index(s []byte, from int) int {
	if !m.fold && !m.byAnchor {
		if i := bytes.Index(s[from:], m.lit); i >= 0 {
			return from + i
		}
		return -1
	}
	n := len(m.lit)
	for p := from + m.anchor; p <= len(s)-(n-m.anchor); {
		// The next anchor at or after p, either case.
		if m.nextLo != -1 && m.nextLo < p {
			m.nextLo = indexByteFrom(s, m.lo, p)
		}
		if m.up != m.lo && m.nextUp != -1 && m.nextUp < p {
			m.nextUp = indexByteFrom(s, m.up, p)
		}
		c := m.nextLo
		if m.up != m.lo && m.nextUp >= 0 && (c < 0 || m.nextUp < c) {
			c = m.nextUp
		}
		if c < 0 || c > len(s)-(n-m.anchor) {
			return -1
		}
		if start := c - m.anchor; m.fold && equalFoldASCII(s[start:start+n], m.lit) ||
			!m.fold && bytes.Equal(s[start:start+n], m.lit) {
			return start
		}
		p = c + 1
	}
	return -1
}

func indexByteFrom(s []byte, c byte, from int) int {
	if i := bytes.IndexByte(s[from:], c); i >= 0 {
		return from + i
	}
	return -1
}

// equalFoldASCII reports whether s equals lower, a lower-case literal,
// without ASCII case.
func equalFoldASCII(s, lower []byte) bool {
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// match reports whether data matches.
func (m *matcher) match(data []byte) bool {
	if m.exact {
		if m.fold {
			return containsFold(data, m.lit)
		}
		return bytes.Contains(data, m.lit)
	}
	return m.re.Match(data)
}

func containsFold(s, lower []byte) bool {
	for i := 0; i+len(lower) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}
