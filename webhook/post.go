package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// result is how one POST went: err is "" when delivered, else a short
// reason for a person (never the URL's path or query).
type result struct {
	err        string
	retry      bool
	retryAfter time.Duration
}

// post sends one batch as a JSON array. Network errors, timeouts, 5xx, 408
// and 429 are worth retrying; any other status outside 2xx (a redirect, a
// 4xx) means the webhook refuses these alerts, and retrying would not help.
func (s *Sink) post(ctx context.Context, batch []gaffer.Alert) result {
	body, err := json.Marshal(batch)
	if err != nil { // an Alert always marshals; kept for honesty
		return result{err: "cannot encode the alerts"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return result{err: "invalid webhook URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gaffer")
	resp, err := s.opt.Client.Do(req)
	if err != nil {
		return result{err: s.describe(ctx, err), retry: true}
	}
	// Drain a little so the connection can be reused; the body is the
	// receiver's business and never shown.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return result{}
	case c >= 300 && c < 400:
		return result{err: status(resp) + " (redirects are not followed)"}
	case c >= 500, c == http.StatusRequestTimeout, c == http.StatusTooManyRequests:
		return result{err: status(resp), retry: true, retryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	default:
		return result{err: status(resp)}
	}
}

// status is "503 Service Unavailable", with the reason phrase Go knows
// rather than the one the receiver sent.
func status(resp *http.Response) string {
	c := resp.StatusCode
	if t := http.StatusText(c); t != "" {
		return strconv.Itoa(c) + " " + t
	}
	return "status " + strconv.Itoa(c)
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 0 if
// absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// describe says briefly why a POST got no answer. Go's errors quote the
// whole URL, which may hold a secret: they are never shown as they are.
func (s *Sink) describe(ctx context.Context, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case s.ctx.Err() != nil:
		return "not delivered before the job's end"
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return "no answer within " + s.opt.Timeout.String()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "host " + dns.Name + " not found"
		}
		return "DNS lookup of " + dns.Name + " failed"
	case errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &cert):
		return "TLS certificate not trusted"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	msg := strings.ReplaceAll(err.Error(), s.url, s.shown)
	if u, perr := url.Parse(s.url); perr == nil && u.RawQuery != "" {
		msg = strings.ReplaceAll(msg, u.RawQuery, "…")
	}
	if r := []rune(msg); len(r) > 120 {
		msg = string(r[:120]) + "…"
	}
	return msg
}
