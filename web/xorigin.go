package web

import (
	"mime"
	"net/http"
	"strings"

	"github.com/gaffer-dev/gaffer"
)

// Cross-origin protection. The session cookie is an ambient credential: a
// browser sends it with any request to this server, also one another page
// (another site, another port of this host, a sibling subdomain) makes it
// send. SameSite=Lax alone lets same-site pages through, so every unsafe
// request is checked here (Go's http.CrossOriginProtection: Sec-Fetch-Site,
// else Origin against Host), before it is authenticated.

// checkOrigin refuses a cross-origin browser request that uses the session
// cookie, answering 403, and reports whether the request may go on. A
// request with an Authorization header is left alone: Authenticate then
// ignores the cookie, and a token is no ambient credential (another
// origin's script must already know it, and cannot send it without a CORS
// preflight this server never allows). CLI and curl send neither Origin
// nor Sec-Fetch-Site, which the check lets through.
func (s *Server) checkOrigin(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	if err := s.crossOrigin.Check(r); err != nil {
		s.error(w, r, gaffer.Errorf(gaffer.EFORBIDDEN, "a page of another site may not change anything here (cross-origin %s refused); use this server's own pages, or an API token", r.Method))
		return false
	}
	return true
}

// requireJSON refuses an API request body that is not declared JSON, with
// 415. Browsers send text/plain, form and multipart bodies to another
// origin without asking first; the API never reads those, so a body the
// pages never send cannot reach a handler even if the origin check is ever
// bypassed. A request without a body (cancel) needs no Content-Type.
func requireJSON(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/api/") || isSafe(r.Method) || (r.ContentLength == 0 && len(r.TransferEncoding) == 0) {
		return true
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return true
	}
	if ct == "" {
		ct = "none"
	}
	writeJSONError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
		"the request body must be JSON sent with Content-Type: application/json (it was "+ct+")")
	return false
}

func isSafe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}
