// Command gaffer is the Gaffer server and its command-line client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

const usage = `gaffer runs commands on many hosts over SSH and lets anyone watch them live.

Usage:
  gaffer serve [flags]                      run the server
  gaffer run [-H host,host] [-l k=v] [--timeout 10m] [--pty] -- COMMAND...
                                            start a job and follow it
  gaffer follow [-H host,host] [-l k=v] [--from start] [--retain 1GB]
                [--alert PATTERN=URL]... [--timeout 8h] PATH...
                                            follow log files on hosts, live
  gaffer logs [-f] [--tail N] [--since 10m] [--grep P] JOB
                                            print a job's log (-f: follow it)
  gaffer jobs [--status S] [--host H]       list recent jobs
  gaffer cancel JOB                         cancel a running job
  gaffer hosts                              list the inventory
  gaffer hosts keys [--host NAME]           list host keys offered (pending) and approved
  gaffer hosts approve NAME [--fingerprint F] [--replace]
                                            approve a host's pending key (admin)
  gaffer audit [--action A] [--actor NAME]  the audit trail (admin)
  gaffer tokens create NAME --role R [--expires 30d] | list | revoke ID
                                            manage API tokens (admin)
  gaffer completion bash|zsh|fish           print a shell completion script

Client commands find the server with --server / GAFFER_SERVER (default
http://127.0.0.1:8080) and the token with --token / GAFFER_TOKEN.
Every flag also reads an environment variable: --data-dir <-> GAFFER_DATA_DIR.
Run "gaffer COMMAND -h" for a command's flags.
`

// exitError carries a process exit code up to main.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a mistake on the command line (a bad flag value, flags that
// do not go together): main prints it and exits with 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// flagError is an error of the flag package, which has already printed it
// with the command's usage: main exits with 2 without printing it again.
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

// exitCode prints err if it needs printing and returns the process's exit
// code for it.
func exitCode(err error, stderr io.Writer) int {
	var ee exitError
	var fe flagError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, flag.ErrHelp), errors.As(err, &fe):
		return 2
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "gaffer:", err)
		return 2
	}
	fmt.Fprintln(stderr, "gaffer:", err)
	return 1
}

func main() {
	ctx, stop := signalContext()
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if code := exitCode(err, os.Stderr); code != 0 {
		os.Exit(code)
	}
}

// interruptClaims counts what handles Ctrl-C itself (run and follow ask
// whether to stop the job or detach): while one does, Ctrl-C does not end
// the command's context, or the question would never be answered.
var interruptClaims atomic.Int32

// claimInterrupt keeps Ctrl-C from ending the context of signalContext
// until release is called.
func claimInterrupt() (release func()) {
	interruptClaims.Add(1)
	var once sync.Once
	return func() { once.Do(func() { interruptClaims.Add(-1) }) }
}

// signalContext is a context that ends on SIGTERM, and on Ctrl-C (SIGINT)
// unless it is claimed. Once it has ended, the signals kill the process
// again, so a second Ctrl-C stops a command that is slow to wind down.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case s := <-sig:
				if s == os.Interrupt && interruptClaims.Load() > 0 {
					continue
				}
				cancel()
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx, cancel
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout, stderr)
	case "run":
		return runJob(ctx, args, stdout, stderr)
	case "follow":
		return followCmd(ctx, args, stdout, stderr)
	case "logs":
		return logs(ctx, args, stdout, stderr)
	case "jobs":
		return jobs(ctx, args, stdout, stderr)
	case "cancel":
		return cancel(ctx, args, stdout, stderr)
	case "hosts":
		return hosts(ctx, args, stdout, stderr)
	case "audit":
		return auditCmd(ctx, args, stdout, stderr)
	case "tokens":
		return tokens(ctx, args, stdout, stderr)
	case "completion":
		return completion(args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "gaffer: unknown command %q\n\n%s", cmd, usage)
	return exitError{2}
}

// newFlagSet returns a flag set whose flags read GAFFER_* environment
// variables as defaults (call envDefaults after defining them); flags win.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gaffer "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses the command line, then fills the flags it did not set
// from the environment.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return flagError{err}
	}
	return envDefaults(fs)
}

// envDefaults sets every flag not given on the command line from its
// environment variable, e.g. --data-dir from GAFFER_DATA_DIR.
func envDefaults(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		env := "GAFFER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := f.Value.Set(v); e != nil {
				err = usagef("%s=%q: %v", env, v, e)
			}
		}
	})
	return err
}
