package web

import (
	"net/url"
	"strings"
	"unicode"
)

// safeNext keeps the redirect after login on this site: next must be a
// local path, else it is "/". Browsers drop tabs and newlines from a URL,
// trim spaces and controls, and read "\" as "/", so "/\t/evil" or "/\evil"
// would become "//evil", another host. Rather than imitate every parser,
// anything that is not plainly a path is refused: it must start with one
// "/" followed by neither "/" nor "\", hold no backslash, space or control
// character, and parse as a URL with neither scheme nor host.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		return "/"
	}
	for _, r := range next {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return next
}
