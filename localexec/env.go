package localexec

import (
	"fmt"
	"os"
	"os/user"
	"strings"
)

// baseEnv are the variables a local command gets from the server's
// environment. Nothing else is passed on: the server's environment holds
// its settings and secrets (GAFFER_*, database and Redis URLs with
// passwords, SSH_AUTH_SOCK), and a job's output is kept for ever.
var baseEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TZ"}

// defaultPath is PATH when the server has none, as login(1) sets it.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// environ is the environment of a local command: baseEnv as the server has
// it (PATH, HOME, USER, LOGNAME and SHELL filled in when missing), then
// e.Env.
func (e *Executor) environ() []string {
	vars := map[string]string{}
	var names []string
	set := func(name, value string) {
		if _, ok := vars[name]; !ok {
			names = append(names, name)
		}
		vars[name] = value
	}
	for _, name := range baseEnv {
		if v, ok := os.LookupEnv(name); ok {
			set(name, v)
		}
	}
	fill := func(name, value string) {
		if _, ok := vars[name]; !ok && value != "" {
			set(name, value)
		}
	}
	fill("PATH", defaultPath)
	if u, err := user.Current(); err == nil {
		fill("HOME", u.HomeDir)
		fill("USER", u.Username)
		fill("LOGNAME", u.Username)
	}
	fill("SHELL", e.shell())
	for _, kv := range e.Env {
		name, value, hasValue := strings.Cut(kv, "=")
		if !validName(name) {
			continue // ParseEnv refuses it
		}
		if hasValue {
			set(name, value)
		} else if v, ok := os.LookupEnv(name); ok {
			set(name, v)
		}
	}
	env := make([]string, len(names))
	for i, name := range names {
		env[i] = name + "=" + vars[name]
	}
	return env
}

// ParseEnv reads a list of variables for Executor.Env: comma-separated
// NAME=value (set NAME) or NAME (pass on the server's NAME, if set), e.g.
// "JAVA_HOME=/opt/jdk,http_proxy". A value cannot hold a comma: set such a
// variable in the server's environment and pass it on by name.
func ParseEnv(list string) ([]string, error) {
	var env []string
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, _, _ := strings.Cut(item, "=")
		if !validName(name) {
			return nil, fmt.Errorf("%q: want NAME=value or NAME, where NAME is letters, digits and _ and does not start with a digit", item)
		}
		env = append(env, item)
	}
	return env, nil
}

func validName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for _, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
