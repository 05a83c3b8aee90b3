package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/gaffer-dev/gaffer"
)

// Shell completion: `gaffer completion bash|zsh|fish` prints a script that
// completes subcommands, their flags, job ids (from `gaffer jobs`), host
// names (from `gaffer hosts`), the values of --stream, -o and --from, and
// file names for follow's paths. The flags
// are read from each command's own -h, so the scripts never fall behind.

// subcommands, in the order the usage lists them, with a short description.
var subcommands = []struct{ name, about string }{
	{"serve", "run the server"},
	{"run", "start a job and follow it"},
	{"follow", "follow log files on hosts, live"},
	{"logs", "print a job's log"},
	{"jobs", "list recent jobs"},
	{"cancel", "cancel a running job"},
	{"hosts", "list the inventory, or its host keys (keys, approve NAME)"},
	{"audit", "show the audit trail (admin)"},
	{"tokens", "create, list or revoke API tokens (admin)"},
	{"completion", "print a shell completion script"},
	{"help", "show the usage"},
}

// cliFlag is one flag of a subcommand, as its -h shows it.
type cliFlag struct {
	name   string
	value  bool // takes a value
	usage  string
	dashes string // "-" for one letter (-f), else "--"
}

// commandFlags reads a subcommand's flags from its -h output.
func commandFlags(cmd string) []cliFlag {
	var help bytes.Buffer
	switch cmd {
	case "serve":
		parseServeFlags([]string{"-h"}, &help)
	case "completion", "help":
		return nil
	default:
		run(context.Background(), []string{cmd, "-h"}, io.Discard, &help)
	}
	return parseFlagHelp(help.String())
}

// parseFlagHelp reads the flag package's PrintDefaults output:
// "  -name TYPE\n    \tusage" (or "  -x\tusage" for a one-letter switch).
func parseFlagHelp(s string) []cliFlag {
	var flags []cliFlag
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "  -") {
			continue
		}
		head, usage, oneLine := strings.Cut(line, "\t")
		f := strings.Fields(head)
		if len(f) == 0 {
			continue
		}
		if !oneLine && i+1 < len(lines) {
			usage = strings.TrimSpace(lines[i+1])
		}
		usage, _, _ = strings.Cut(usage, " (default")
		name := strings.TrimPrefix(f[0], "-")
		fl := cliFlag{name: name, value: len(f) > 1, usage: strings.TrimSpace(usage), dashes: "--"}
		if len(name) == 1 {
			fl.dashes = "-"
		}
		flags = append(flags, fl)
	}
	sort.Slice(flags, func(i, j int) bool { return flags[i].name < flags[j].name })
	return flags
}

// Values some flags take; a flag not listed here completes nothing (or a
// file, for the ones that name one).
var (
	hostFlags = map[string]bool{"host": true, "H": true}
	fileFlags = map[string]bool{"inventory": true, "known-hosts": true, "data-dir": true, "archive-dir": true, "ssh-config": true, "managed-known-hosts": true}
	listFlags = map[string]string{"stream": "stdout stderr system", "from": "end start", "o": "text json raw", "status": "queued running succeeded failed canceled timed_out interrupted", "log-level": "debug info warn error",
		"action": strings.Join(gaffer.AuditActions, " ")}
	jobArgs = map[string]bool{"logs": true, "cancel": true}
)

func completion(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return usagef("completion takes one shell: bash, zsh or fish (e.g. source <(gaffer completion bash))")
	}
	var script string
	switch args[0] {
	case "bash":
		script = bashCompletion()
	case "zsh":
		script = zshCompletion()
	case "fish":
		script = fishCompletion()
	default:
		return usagef("completion %q: give bash, zsh or fish", args[0])
	}
	_, err := io.WriteString(stdout, script)
	return err
}

// valueFlagCases is the shell case arms that complete a flag's value, in
// the syntax of bash and zsh alike: `pattern) action;;`.
func valueFlagCases(hosts, files, list func(words string) string) string {
	var b strings.Builder
	var hs, fs []string
	for f := range hostFlags {
		hs = append(hs, "-"+f, "--"+f)
	}
	for f := range fileFlags {
		fs = append(fs, "-"+f, "--"+f)
	}
	sort.Strings(hs)
	sort.Strings(fs)
	fmt.Fprintf(&b, "        %s) %s; return;;\n", strings.Join(hs, "|"), hosts(""))
	fmt.Fprintf(&b, "        %s) %s; return;;\n", strings.Join(fs, "|"), files(""))
	var names []string
	for f := range listFlags {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		fmt.Fprintf(&b, "        -%s|--%s) %s; return;;\n", f, f, list(listFlags[f]))
	}
	return b.String()
}

// perCommand returns, for each subcommand with flags, its flags with and
// without values as shell words.
func perCommand() (names []string, all, valued map[string]string) {
	all, valued = map[string]string{}, map[string]string{}
	for _, c := range subcommands {
		flags := commandFlags(c.name)
		if len(flags) == 0 {
			continue
		}
		names = append(names, c.name)
		var a, v []string
		for _, f := range flags {
			a = append(a, f.dashes+f.name)
			if f.value {
				v = append(v, "-"+f.name, "--"+f.name)
			}
		}
		all[c.name], valued[c.name] = strings.Join(a, " "), strings.Join(v, "|")
	}
	return names, all, valued
}

func subcommandWords() string {
	var w []string
	for _, c := range subcommands {
		w = append(w, c.name)
	}
	return strings.Join(w, " ")
}

const jobsCmd = `"${words[0]}" jobs --limit 50 2>/dev/null | awk 'NR>1 {print $1}'`
const hostsCmd = `"${words[0]}" hosts 2>/dev/null | awk 'NR>1 {print $1}'`

func bashCompletion() string {
	names, all, valued := perCommand()
	var b strings.Builder
	b.WriteString(`# bash completion for gaffer. Load it with: source <(gaffer completion bash)
_gaffer() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local words=("${COMP_WORDS[@]}")
    COMPREPLY=()
    if [[ $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "` + subcommandWords() + `" -- "$cur"))
        return
    fi
    local cmd="${COMP_WORDS[1]}"
    case "$prev" in
`)
	b.WriteString(valueFlagCases(
		func(string) string { return `COMPREPLY=($(compgen -W "$(` + hostsCmd + `)" -- "$cur"))` },
		func(string) string { return `COMPREPLY=($(compgen -f -- "$cur"))` },
		func(w string) string { return `COMPREPLY=($(compgen -W "` + w + `" -- "$cur"))` }))
	b.WriteString("    esac\n    case \"$cmd\" in\n")
	for _, n := range names {
		if valued[n] != "" {
			fmt.Fprintf(&b, "        %s) case \"$prev\" in %s) return;; esac;;\n", n, valued[n])
		}
	}
	b.WriteString("    esac\n    if [[ \"$cur\" == -* ]]; then\n        case \"$cmd\" in\n")
	for _, n := range names {
		fmt.Fprintf(&b, "            %s) COMPREPLY=($(compgen -W \"%s\" -- \"$cur\"));;\n", n, all[n])
	}
	b.WriteString(`        esac
        return
    fi
    case "$cmd" in
        logs|cancel) COMPREPLY=($(compgen -W "$(` + jobsCmd + `)" -- "$cur"));;
        completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur"));;
    esac
}
complete -o default -F _gaffer gaffer
`)
	return b.String()
}

func zshCompletion() string {
	names, all, valued := perCommand()
	zlist := func(cmd string) string {
		return `compadd -- ${(f)"$(` + strings.ReplaceAll(cmd, "${words[0]}", "${words[1]}") + `)"}`
	}
	var b strings.Builder
	b.WriteString(`#compdef gaffer
# zsh completion for gaffer. Load it with: source <(gaffer completion zsh)
# (after compinit), or save it as _gaffer in a directory of $fpath.
_gaffer() {
    local cur="${words[CURRENT]}" prev="${words[CURRENT-1]}" cmd="${words[2]}"
    if (( CURRENT == 2 )); then
        compadd -- ` + subcommandWords() + `
        return
    fi
    case "$prev" in
`)
	b.WriteString(valueFlagCases(
		func(string) string { return zlist(hostsCmd) },
		func(string) string { return `_files` },
		func(w string) string { return `compadd -- ` + w }))
	b.WriteString("    esac\n    case \"$cmd\" in\n")
	for _, n := range names {
		if valued[n] != "" {
			fmt.Fprintf(&b, "        %s) case \"$prev\" in %s) return;; esac;;\n", n, valued[n])
		}
	}
	b.WriteString("    esac\n    if [[ \"$cur\" == -* ]]; then\n        case \"$cmd\" in\n")
	for _, n := range names {
		fmt.Fprintf(&b, "            %s) compadd -- %s;;\n", n, all[n])
	}
	b.WriteString(`        esac
        return
    fi
    case "$cmd" in
        logs|cancel) ` + zlist(jobsCmd) + `;;
        completion) compadd -- bash zsh fish;;
        *) _files;;
    esac
}
if [[ "${funcstack[1]}" == "_gaffer" ]]; then
    _gaffer "$@"
else
    compdef _gaffer gaffer
fi
`)
	return b.String()
}

func fishCompletion() string {
	var b strings.Builder
	b.WriteString("# fish completion for gaffer. Load it with: gaffer completion fish | source\n")
	b.WriteString("complete -c gaffer -f\n")
	for _, c := range subcommands {
		fmt.Fprintf(&b, "complete -c gaffer -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.about))
	}
	for _, c := range subcommands {
		cond := fishQuote("__fish_seen_subcommand_from " + c.name)
		for _, f := range commandFlags(c.name) {
			opt := "-l " + f.name
			if len(f.name) == 1 {
				opt = "-s " + f.name
			}
			line := fmt.Sprintf("complete -c gaffer -n %s %s -d %s", cond, opt, fishQuote(firstSentence(f.usage)))
			if f.value {
				line += " -r"
				switch {
				case hostFlags[f.name]:
					line += " -a " + fishQuote("(gaffer hosts 2>/dev/null | awk 'NR>1 {print $1}')")
				case fileFlags[f.name]:
					line += " -F"
				case listFlags[f.name] != "":
					line += " -a " + fishQuote(listFlags[f.name])
				}
			}
			b.WriteString(line + "\n")
		}
	}
	b.WriteString("complete -c gaffer -n " + fishQuote("__fish_seen_subcommand_from logs cancel") +
		" -a " + fishQuote("(gaffer jobs --limit 50 2>/dev/null | awk 'NR>1 {print $1}')") + "\n")
	b.WriteString("complete -c gaffer -n " + fishQuote("__fish_seen_subcommand_from completion") + " -a 'bash zsh fish'\n")
	// follow's paths: file names (on this machine; often the same layout).
	b.WriteString("complete -c gaffer -n " + fishQuote("__fish_seen_subcommand_from follow") + " -F\n")
	return b.String()
}

// fishQuote quotes s for fish: single quotes, with \ and ' escaped.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func firstSentence(s string) string {
	if i := strings.IndexAny(s, ";:("); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
