package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gaffer-dev/gaffer"
)

// hostKeys is `gaffer hosts keys`: the keys hosts offered and admins
// approved, as a table.
func hostKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hosts keys", stderr)
	c := addClientFlags(fs)
	host := fs.String("host", "", "only this host's keys")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gaffer hosts keys [--host NAME]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("gaffer hosts keys takes no arguments (did you mean --host %s?)", fs.Arg(0))
	}
	if err := c.check(); err != nil {
		return err
	}
	path := "/api/hosts/keys"
	if *host != "" {
		path += "?host=" + url.QueryEscape(*host)
	}
	var keys []gaffer.HostKey
	if err := c.do(ctx, "GET", path, nil, &keys); err != nil {
		return err
	}
	// A pending key of a host with an approved one is a changed key:
	// approving it needs --replace.
	approved := map[string]bool{}
	for _, k := range keys {
		if k.State == gaffer.HostKeyApproved {
			approved[k.Host] = true
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATE\tTYPE\tFINGERPRINT\tFIRST SEEN\tLAST SEEN\tAPPROVED BY")
	for _, k := range keys {
		state := k.State
		if state == gaffer.HostKeyPending && approved[k.Host] {
			state = "pending (changed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(k.Host), clean(state), clean(k.Type), clean(k.Fingerprint),
			localTime(k.FirstSeen), localTime(k.LastSeen), clean(k.ApprovedBy))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(keys) == 0 {
		fmt.Fprintln(stderr, "gaffer: no host keys yet: a host's key is listed when a job first reaches it")
	}
	return nil
}

// approveHostKey is `gaffer hosts approve NAME`.
func approveHostKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hosts approve", stderr)
	c := addClientFlags(fs)
	fp := fs.String("fingerprint", "", "the key to approve, SHA256:… (needed when the host offered more than one)")
	replace := fs.Bool("replace", false, "approve although another key is trusted for the host (it was reinstalled; compare the fingerprint on the host first)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gaffer hosts approve NAME [--fingerprint SHA256:…] [--replace]")
		fs.PrintDefaults()
	}
	// The host name may come before the flags: gaffer hosts approve web-1 --replace.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
		if fs.NArg() > 1 {
			return usagef("gaffer hosts approve takes one host name, not %d", fs.NArg())
		}
	} else if fs.NArg() > 0 {
		return usagef("gaffer hosts approve takes one host name; %q is extra", fs.Arg(0))
	}
	if name == "" {
		fs.Usage()
		return exitError{2}
	}
	if err := c.check(); err != nil {
		return err
	}
	body := map[string]any{"replace": *replace}
	if *fp != "" {
		body["fingerprint"] = *fp
	}
	var key struct {
		gaffer.HostKey
		Replaced []string `json:"replaced"`
	}
	if err := c.do(ctx, "POST", "/api/hosts/"+url.PathEscape(name)+"/keys/approve", body, &key); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: approved %s %s\n", clean(key.Host), clean(key.Type), clean(key.Fingerprint))
	for _, r := range key.Replaced {
		fmt.Fprintf(stdout, "%s: replaced %s\n", clean(key.Host), clean(r))
	}
	return nil
}

func localTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// clean keeps a server's value to one cell of a table: no control
// characters reach the terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
