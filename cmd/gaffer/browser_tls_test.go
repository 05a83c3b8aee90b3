package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gaffer-dev/gaffer"
)

// Over HTTPS with HTTP/2 (--tls-self-signed) ten job pages open at once in
// ten windows of one browser all hold an open stream and all show new
// lines of their running job: HTTP/2 lifts the six connections per origin
// that cap HTTP/1.1 (where livelease.js lets only 4 pages stream).
func TestBrowserTLSTenPagesLive(t *testing.T) {
	ts := startServer(t, "--tls-self-signed")
	ts.Client = trustingClient(t, filepath.Join(ts.DataDir, selfSignedCert))
	gate := filepath.Join(t.TempDir(), "stop")
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })

	// Chromium trusts the certificate by its key's hash, as a browser that
	// was told to trust it would; a certificate error would keep it from
	// pooling requests on one HTTP/2 connection.
	b := newBrowser(t, chromedp.Flag("ignore-certificate-errors-spki-list", spkiHash(t, filepath.Join(ts.DataDir, selfSignedCert))))
	b.login(ts)
	const n = 10
	pages := []*tab{b}
	for len(pages) < n {
		pages = append(pages, b.newTab(t)) // a window each: all visible
	}
	for i, p := range pages {
		job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"local"},
			Command: fmt.Sprintf(`i=0; while [ ! -e '%s' ]; do i=$((i+1)); echo "job %d tick $i"; sleep 0.5; done`, gate, i+1)})
		start := time.Now()
		p.openJob(ts, job.ID)
		proto := evalJS[string](p, `performance.getEntriesByType("navigation")[0].nextHopProtocol`)
		t.Logf("page %d: job %d open over %s after %s", i+1, job.ID, proto, time.Since(start).Round(time.Millisecond))
		if proto != "h2" {
			t.Fatalf("page %d came over %q, want h2", i+1, proto)
		}
	}
	// Every page holds an open EventSource (readyState 1) at once.
	for i, p := range pages {
		p.waitJS(fmt.Sprintf("page %d to hold an open stream", i+1), `gafferViewer.state().holding && gafferViewer.state().stream === 1`)
	}
	if got := openStreamsMetric(t, ts); got < n {
		t.Errorf("server has %d log streams open, want %d", got, n)
	}
	// And every one of them shows new lines, twice over.
	for round := 1; round <= 2; round++ {
		start := time.Now()
		seen := make([]int64, n)
		for i, p := range pages {
			seen[i] = p.state().LastSeq
		}
		for i, p := range pages {
			p.waitJS(fmt.Sprintf("page %d to show new lines", i+1), `(function (s, rows) {
			  return s.holding && s.stream === 1 && s.lastSeq > `+strconv.FormatInt(seen[i]+2, 10)+` && rows.length && rows[rows.length - 1].seq === s.lastSeq &&
			    rows[rows.length - 1].text.indexOf("job `+strconv.Itoa(i+1)+` tick ") === 0;
			})(gafferViewer.state(), `+shownRowsJS+`)`)
		}
		t.Logf("round %d: all %d pages showed new lines within %s", round, n, time.Since(start).Round(time.Millisecond))
	}
	for i, p := range pages {
		p.checkClean(fmt.Sprintf("page %d", i+1))
	}
}

// openStreamsMetric reads gaffer_log_streams from /metrics.
func openStreamsMetric(t *testing.T, ts *testServer) int {
	t.Helper()
	resp := ts.request(t, "GET", "/metrics", nil)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "gaffer_log_streams "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	t.Fatalf("no gaffer_log_streams in /metrics")
	return 0
}

// spkiHash is the base64 SHA-256 of a certificate's public key, as
// Chromium's --ignore-certificate-errors-spki-list wants it.
func spkiHash(t *testing.T, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}
