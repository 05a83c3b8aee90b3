package web

import (
	"fmt"
	"strings"
)

// jobPageLink is the Link header naming the page of job id, for clients
// outside a browser (the CLI prints it after starting a job). With
// PublicURL it is absolute on the address people open, so a CLI that
// reaches the server at an internal address (http://127.0.0.1:8080 behind
// the proxy) still prints a link that works in their browser; without it,
// relative, and clients resolve it against the address they used.
func (s *Server) jobPageLink(id int64) string {
	return fmt.Sprintf(`<%s/jobs/%d>; rel="alternate"; type="text/html"`, strings.TrimRight(s.PublicURL, "/"), id)
}
