package web_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Over HTTP/1.1 a log stream is not chunked: its body runs to the end of
// the connection (closed after it anyway, see logWriter), as the SSE spec
// suggests, so that a read's events go to the socket in one write instead
// of a chunk header, the data and a trailer each. The bytes after the
// headers are the stream itself, with no chunk sizes in them.
func TestLogStreamsAreNotChunked(t *testing.T) {
	f := newFakeLog(300, true)
	srv := encServer(t, f, false)
	for _, tc := range []struct{ path, accept, first string }{
		{"/api/jobs/1/log", "text/event-stream", "retry: 2000\n\n"},
		{"/api/jobs/1/log", "application/x-ndjson", `{"seq":1,`},
		{"/api/jobs/1/log?follow=1", "application/x-ndjson", `{"seq":1,`},
	} {
		t.Run(tc.accept+" "+tc.path, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nAccept: %s\r\n\r\n", tc.path, token, tc.accept)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %s", resp.Status)
			}
			if len(resp.TransferEncoding) > 0 || !resp.Close {
				t.Errorf("Transfer-Encoding %q, closes %v: want none, true", resp.TransferEncoding, resp.Close)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(body), tc.first) {
				t.Errorf("body starts %q, want %q", body[:min(len(body), 40)], tc.first)
			}
			if n := bytes.Count(body, []byte(`"seq":`)); n != 300 {
				t.Errorf("%d records in the body, want 300", n)
			}
		})
	}
}
