package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/web"
)

const tokensUsage = `usage:
  gaffer tokens create NAME --role viewer|operator|admin [--expires 30d]
                            make a token; it is printed once
  gaffer tokens list        list tokens (never their secrets)
  gaffer tokens revoke ID   revoke a token: its requests, sessions and log streams end now
(admin only)
`

// tokens is `gaffer tokens create|list|revoke`.
func tokens(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokensUsage)
		return exitError{2}
	}
	switch args[0] {
	case "create":
		return tokensCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return tokensList(ctx, args[1:], stdout, stderr)
	case "revoke":
		return tokensRevoke(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, tokensUsage)
		return nil
	}
	fmt.Fprintf(stderr, "gaffer tokens: unknown subcommand %q\n%s", args[0], tokensUsage)
	return exitError{2}
}

func tokensCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tokens create", stderr)
	c := addClientFlags(fs)
	role := fs.String("role", "", "what the token may do: viewer (read jobs and logs), operator (also start and cancel jobs) or admin (also manage tokens)")
	expires := fs.String("expires", "", "the token expires after this long: days (30d) or a duration (12h) (default: never)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gaffer tokens create NAME --role viewer|operator|admin [--expires 30d]")
		fs.PrintDefaults()
	}
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("tokens create takes one NAME (who or what the token is for), got %d arguments", fs.NArg())
	}
	name := fs.Arg(0)
	if err := web.ValidTokenName(name); err != nil {
		return usagef("NAME: %s", gaffer.ErrorMessage(err))
	}
	switch r := gaffer.Role(*role); {
	case *role == "":
		return usagef("--role is required: viewer, operator or admin")
	case !r.Valid():
		return usagef("--role %q: give viewer, operator or admin", *role)
	}
	if *expires != "" {
		if _, err := web.ParseExpiresIn(*expires); err != nil {
			return usagef("--expires %q: give whole days (30d) or a duration (12h), above zero", *expires)
		}
	}
	if err := c.check(); err != nil {
		return err
	}
	var t struct {
		gaffer.Token
		Secret string `json:"token"`
	}
	req := map[string]string{"name": name, "role": *role}
	if *expires != "" {
		req["expires_in"] = *expires
	}
	if err := c.do(ctx, "POST", "/api/tokens", req, &t); err != nil {
		return err
	}
	until := "never expires"
	if t.ExpiresAt != nil {
		until = "expires " + t.ExpiresAt.Local().Format("2006-01-02 15:04 MST")
	}
	fmt.Fprintf(stderr, "gaffer: token %d %q (%s, %s) created. It is shown only this once: keep it now.\n", t.ID, t.Name, t.Role, until)
	fmt.Fprintln(stdout, t.Secret)
	return nil
}

func tokensList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tokens list", stderr)
	c := addClientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("tokens list takes no arguments, got %q", fs.Args())
	}
	if err := c.check(); err != nil {
		return err
	}
	var list []gaffer.Token
	if err := c.do(ctx, "GET", "/api/tokens", nil, &list); err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tSTATUS\tCREATED\tBY\tEXPIRES")
	for _, t := range list {
		status := "active"
		switch {
		case t.RevokedAt != nil:
			status = "revoked " + t.RevokedAt.Local().Format("2006-01-02 15:04")
		case !t.Active(now):
			status = "expired"
		}
		exp := "never"
		if t.ExpiresAt != nil {
			exp = t.ExpiresAt.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, status,
			t.CreatedAt.Local().Format("2006-01-02 15:04"), t.CreatedBy, exp)
	}
	return tw.Flush()
}

func tokensRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tokens revoke", stderr)
	c := addClientFlags(fs)
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("tokens revoke takes one token ID (gaffer tokens list shows them), got %d arguments", fs.NArg())
	}
	id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || id <= 0 {
		return usagef("%q is not a token ID (a positive whole number; gaffer tokens list shows them)", fs.Arg(0))
	}
	if err := c.check(); err != nil {
		return err
	}
	var t gaffer.Token
	if err := c.do(ctx, "DELETE", fmt.Sprintf("/api/tokens/%d", id), nil, &t); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %d (%s) revoked: its requests, browser sessions and log streams end now\n", t.ID, t.Name)
	return nil
}
