package web

import "net/http"

// ContentSecurityPolicy is sent with every response. The pages load their
// scripts and stylesheets from /static only (no inline <script>, <style> or
// style attributes; scripts set styles through the CSSOM, which CSP allows)
// and fetch only from this origin, so 'self' is all they need: an injected
// inline script (log output that slipped into HTML) would not run, and
// another site cannot frame a page to trick a click (frame-ancestors).
const ContentSecurityPolicy = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// HSTS is the Strict-Transport-Security value: a year. Not
// includeSubDomains: the server does not own the names under its own (a
// gaffer answering at the apex of an internal domain would force HTTPS on
// every plain-HTTP site below it for a year), and an operator who wants it,
// or preload, sets it on the proxy. HSTS is per host and ignores the port: a
// browser that saw it upgrades every http:// URL of this host name, which
// is why it is sent only when people reach the server over HTTPS.
const HSTS = "max-age=31536000"

// setSecurityHeaders adds the headers a security reviewer expects on every
// response, before any handler runs (so errors, redirects and static files
// carry them too).
func (s *Server) setSecurityHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY") // frame-ancestors, for browsers without CSP 2
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if s.overHTTPS(r) {
		h.Set("Strict-Transport-Security", HSTS)
	}
}

// overHTTPS reports whether the client reached the server over HTTPS: the
// request came over TLS, or a TLS proxy is in front (--public-url
// https://…, which sets SecureCookies). Browsers ignore HSTS received over
// plain HTTP anyway; it is not sent then so a plain-HTTP server never
// claims to be reachable over HTTPS.
func (s *Server) overHTTPS(r *http.Request) bool {
	return r.TLS != nil || s.SecureCookies
}
