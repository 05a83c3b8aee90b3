package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/gaffer-dev/gaffer"
)

// auditCmd is `gaffer audit`: the audit trail (admin), newest first, as a
// table or as the API's JSON.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", stderr)
	c := addClientFlags(fs)
	action := fs.String("action", "", "only events of this action ("+strings.Join(gaffer.AuditActions, ", ")+")")
	actor := fs.String("actor", "", "only events of this actor (a token's name, or admin)")
	limit := fs.Int("limit", 50, "how many (1 to 1000)")
	before := fs.Int64("before", 0, "only events older than this id (the next page: the last id shown)")
	output := fs.String("o", "text", "output: text (a table) or json (the API's events, one a line)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return usagef("-o %q: use text or json", *output)
	}
	if fs.NArg() != 0 {
		return usagef("audit takes no arguments (got %q); filter with --action and --actor", fs.Arg(0))
	}
	if err := c.check(); err != nil {
		return err
	}
	// The server checks the values and says what is wrong with them.
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *action != "" {
		q.Set("action", *action)
	}
	if *actor != "" {
		q.Set("actor", *actor)
	}
	if *before != 0 {
		q.Set("before", strconv.FormatInt(*before, 10))
	}
	var events []json.RawMessage
	if err := c.do(ctx, "GET", "/api/audit?"+q.Encode(), nil, &events); err != nil {
		return err
	}
	if *output == "json" {
		for _, e := range events {
			fmt.Fprintf(stdout, "%s\n", e)
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tACTOR\tACTION\tTARGET\tFROM\tDETAIL")
	for _, raw := range events {
		var e gaffer.AuditEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("the server's answer is not an audit event: %w", err)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.TS.Local().Format("2006-01-02 15:04:05"),
			printable(e.Actor), e.Action, printable(e.Target), printable(e.RemoteAddr), printable(string(e.Detail)))
	}
	return tw.Flush()
}

// printable quotes a value holding a control character (a newline, a tab,
// an escape sequence), so that no value of the trail can forge a row of
// the table or take over the terminal.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
