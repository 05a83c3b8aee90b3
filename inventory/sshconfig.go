package inventory

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gaffer-dev/gaffer"
)

// LoadSSHConfig reads an OpenSSH client configuration (~/.ssh/config) and
// returns a host for each name a Host line gives without wildcards or
// negation, with the settings ssh would use for it: HostName, Port, User,
// IdentityFile (the first; "~" and %h %n %p %r %u %d %i %% expanded) and
// ProxyJump. As in OpenSSH the first value found for a keyword wins, so
// "Host *" entries at the end act as defaults; Include works, relative
// paths being in ~/.ssh. Match blocks are followed for the criteria all,
// host, originalhost, user and localuser; a block with any other criterion
// never applies, with a warning. Hosts that need ProxyCommand, or whose
// names gaffer cannot use, are left out with a warning.
func LoadSSHConfig(path string) (*Inventory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	return ParseSSHConfig(path, b)
}

// ParseSSHConfig reads configuration text as LoadSSHConfig reads a file;
// name is the file name for messages.
func ParseSSHConfig(name string, b []byte) (*Inventory, error) {
	c := &sshConfig{seen: map[string]bool{}}
	if err := c.parse(name, b, nil, 0); err != nil {
		return nil, err
	}
	return c.inventory()
}

// maxIncludeDepth is OpenSSH's limit of nested Include.
const maxIncludeDepth = 16

// sshConfig is a parsed configuration: blocks in file order, Include
// expanded in place.
type sshConfig struct {
	blocks   []*sshBlock
	names    []string // concrete Host names, in order of appearance
	seen     map[string]bool
	warnings []string
}

// sshBlock is the options under one Host or Match line (or before the
// first), and when they apply.
type sshBlock struct {
	conds []cond // all must hold
	opts  []sshOpt
}

// cond is one Host or Match line's test.
type cond func(st *sshState) bool

type sshOpt struct {
	key   string // lower case
	args  []string
	where string // "file:line"
}

// sshState is the settings found so far for one host name.
type sshState struct {
	alias string
	vals  map[string]sshOpt
}

func (b *sshBlock) applies(st *sshState) bool {
	for _, c := range b.conds {
		if !c(st) {
			return false
		}
	}
	return true
}

// parse reads one file's lines into blocks; outer are the conditions of
// the block that included it.
func (c *sshConfig) parse(name string, b []byte, outer []cond, depth int) error {
	cur := &sshBlock{conds: outer}
	c.blocks = append(c.blocks, cur)
	for n, line := range strings.Split(string(b), "\n") {
		where := fmt.Sprintf("%s:%d", name, n+1)
		key, args, err := splitConfigLine(line)
		if err != nil {
			return gaffer.Errorf(gaffer.EINVALID, "%s: %v", where, err)
		}
		switch key {
		case "":
		case "host":
			if len(args) == 0 {
				return gaffer.Errorf(gaffer.EINVALID, "%s: Host needs at least one pattern", where)
			}
			cur = &sshBlock{conds: append(outer[:len(outer):len(outer)], hostCond(args))}
			c.blocks = append(c.blocks, cur)
			// Names inside a conditional Include would never get their
			// own settings: they are not hosts of their own.
			if len(outer) == 0 {
				for _, a := range args {
					if !strings.ContainsAny(a, "*?!") && !c.seen[a] {
						c.seen[a] = true
						c.names = append(c.names, a)
					}
				}
			}
		case "match":
			m, err := c.matchCond(args, where)
			if err != nil {
				return err
			}
			cur = &sshBlock{conds: append(outer[:len(outer):len(outer)], m)}
			c.blocks = append(c.blocks, cur)
		case "include":
			if depth >= maxIncludeDepth {
				return gaffer.Errorf(gaffer.EINVALID, "%s: Include nested more than %d deep", where, maxIncludeDepth)
			}
			for _, pattern := range args {
				if err := c.include(pattern, where, cur.conds, depth); err != nil {
					return err
				}
			}
			// What follows the Include comes after the included blocks.
			cur = &sshBlock{conds: cur.conds}
			c.blocks = append(c.blocks, cur)
		default:
			cur.opts = append(cur.opts, sshOpt{key: key, args: args, where: where})
		}
	}
	return nil
}

// include parses the files a pattern names; relative paths are in ~/.ssh,
// as for a user's configuration. A pattern that matches nothing is no
// error, as in OpenSSH.
func (c *sshConfig) include(pattern, where string, conds []cond, depth int) error {
	path := expandHome(pattern)
	if !filepath.IsAbs(path) {
		home, err := os.UserHomeDir()
		if err != nil {
			return gaffer.Errorf(gaffer.EINVALID, "%s: Include %s: no home directory for the relative path", where, pattern)
		}
		path = filepath.Join(home, ".ssh", path)
	}
	files, err := filepath.Glob(path)
	if err != nil {
		return gaffer.Errorf(gaffer.EINVALID, "%s: Include %s: %v", where, pattern, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return gaffer.Errorf(gaffer.EINVALID, "%s: Include %s: %v", where, pattern, err)
		}
		if err := c.parse(f, b, conds, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// hostCond matches a Host line's patterns against the name given: any
// pattern matches and no negated one does.
func hostCond(patterns []string) cond {
	return func(st *sshState) bool { return matchPatterns(patterns, st.alias) }
}

func matchPatterns(patterns []string, s string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if globMatch(strings.ToLower(strings.TrimPrefix(p, "!")), strings.ToLower(s)) {
			if neg {
				return false
			}
			matched = true
		}
	}
	return matched
}

// matchCond reads a Match line's criteria.
func (c *sshConfig) matchCond(args []string, where string) (cond, error) {
	if len(args) == 0 {
		return nil, gaffer.Errorf(gaffer.EINVALID, "%s: Match needs a criterion", where)
	}
	var conds []cond
	for i := 0; i < len(args); i++ {
		crit := strings.ToLower(args[i])
		neg := strings.HasPrefix(crit, "!")
		crit = strings.TrimPrefix(crit, "!")
		var test func(st *sshState, patterns []string) bool
		switch crit {
		case "all":
			conds = append(conds, func(*sshState) bool { return !neg })
			continue
		case "host":
			test = func(st *sshState, p []string) bool { return matchPatterns(p, st.hostname()) }
		case "originalhost":
			test = func(st *sshState, p []string) bool { return matchPatterns(p, st.alias) }
		case "user":
			test = func(st *sshState, p []string) bool { return matchPatterns(p, st.remoteUser()) }
		case "localuser":
			test = func(st *sshState, p []string) bool { return matchPatterns(p, localUser()) }
		default:
			c.warnings = append(c.warnings, fmt.Sprintf("%s: Match %s is not supported: the block is ignored", where, args[i]))
			return func(*sshState) bool { return false }, nil
		}
		if i+1 >= len(args) {
			return nil, gaffer.Errorf(gaffer.EINVALID, "%s: Match %s needs patterns", where, args[i])
		}
		i++
		patterns := strings.Split(args[i], ",")
		conds = append(conds, func(st *sshState) bool { return test(st, patterns) != neg })
	}
	return func(st *sshState) bool {
		for _, c := range conds {
			if !c(st) {
				return false
			}
		}
		return true
	}, nil
}

// eval collects the settings for a name: the first value of each keyword
// from the blocks that apply, in file order.
func (c *sshConfig) eval(alias string) *sshState {
	st := &sshState{alias: alias, vals: map[string]sshOpt{}}
	for _, b := range c.blocks {
		if !b.applies(st) {
			continue
		}
		for _, o := range b.opts {
			key := o.key
			if key == "proxyjump" || key == "proxycommand" {
				key = "proxy" // the first of the two wins, as in OpenSSH
			}
			if _, ok := st.vals[key]; !ok {
				st.vals[key] = o
			}
		}
	}
	return st
}

// hostname is HostName so far (with %h), or the name given.
func (st *sshState) hostname() string {
	if o, ok := st.vals["hostname"]; ok && len(o.args) > 0 {
		h, err := expandTokens(o.args[0], map[byte]string{'h': st.alias})
		if err == nil {
			return h
		}
	}
	return st.alias
}

// remoteUser is User so far, or the local user as ssh defaults to.
func (st *sshState) remoteUser() string {
	if o, ok := st.vals["user"]; ok && len(o.args) > 0 {
		return o.args[0]
	}
	return localUser()
}

// errProxyCommand marks the error of a host that needs ProxyCommand: such
// hosts are left out rather than failing the whole file.
var errProxyCommand = errors.New("")

// host returns what the configuration says about a name, and its
// ProxyJump.
func (c *sshConfig) host(alias string) (gaffer.Host, string, error) {
	st := c.eval(alias)
	value := func(key string) (string, string, error) {
		o, ok := st.vals[key]
		if !ok {
			return "", "", nil
		}
		// An empty value ("") is missing too, as for ssh: an empty
		// HostName would dial this machine.
		if len(o.args) == 0 || o.args[0] == "" {
			return "", o.where, gaffer.Errorf(gaffer.EINVALID, "%s: %s needs a value", o.where, key)
		}
		return o.args[0], o.where, nil
	}
	h := gaffer.Host{Name: alias, Address: st.hostname(), Port: 22, Labels: map[string]string{}}
	if v, where, err := value("hostname"); err != nil {
		return h, "", err
	} else if _, err := expandTokens(v, map[byte]string{'h': alias}); err != nil {
		return h, "", gaffer.Errorf(gaffer.EINVALID, "%s: HostName %q: %v", where, v, err)
	}
	if v, where, err := value("port"); err != nil {
		return h, "", err
	} else if v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return h, "", gaffer.Errorf(gaffer.EINVALID, "%s: Port %q is not a TCP port", where, v)
		}
		h.Port = p
	}
	var err error
	if h.User, _, err = value("user"); err != nil {
		return h, "", err
	}
	if v, where, err := value("identityfile"); err != nil {
		return h, "", err
	} else if v != "" && !strings.EqualFold(v, "none") {
		home, _ := os.UserHomeDir()
		remote := h.User
		if remote == "" {
			remote = localUser()
		}
		path, err := expandTokens(v, map[byte]string{
			'h': h.Address, 'n': alias, 'p': strconv.Itoa(h.Port), 'r': remote,
			'u': localUser(), 'd': home, 'i': strconv.Itoa(os.Getuid()),
		})
		if err != nil {
			return h, "", gaffer.Errorf(gaffer.EINVALID, "%s: IdentityFile %q: %v", where, v, err)
		}
		h.IdentityFile = expandHome(path)
	}
	jump := ""
	if o, ok := st.vals["proxy"]; ok && len(o.args) > 0 && !strings.EqualFold(o.args[0], "none") {
		if o.key == "proxycommand" {
			return h, "", fmt.Errorf("%w%w", gaffer.Errorf(gaffer.EINVALID, "%s: ProxyCommand is not supported (use ProxyJump)", o.where), errProxyCommand)
		}
		jump = o.args[0]
	}
	return h, jump, nil
}

// inventory turns the configuration into hosts.
func (c *sshConfig) inventory() (*Inventory, error) {
	inv := &Inventory{ProxyJump: map[string]string{}, Warnings: c.warnings, resolve: c.host}
	for _, name := range c.names {
		if !validName.MatchString(name) || name == "local" {
			inv.Warnings = append(inv.Warnings, fmt.Sprintf("ssh config host %q left out: gaffer host names are letters, digits, '.', '_' or '-', and not \"local\"", name))
			continue
		}
		h, jump, err := c.host(name)
		if err != nil {
			if errors.Is(err, errProxyCommand) {
				inv.Warnings = append(inv.Warnings, fmt.Sprintf("ssh config host %q left out: %s", name, gaffer.ErrorMessage(err)))
				continue
			}
			return nil, err
		}
		inv.Hosts = append(inv.Hosts, h)
		if jump != "" {
			inv.ProxyJump[name] = jump
		}
	}
	// A bad ProxyJump fails only its host, as it would with ssh.
	kept := inv.Hosts[:0]
	for _, h := range inv.Hosts {
		j, err := inv.JumpHosts(&h)
		if err != nil {
			inv.Warnings = append(inv.Warnings, fmt.Sprintf("ssh config host %q left out: %s", h.Name, gaffer.ErrorMessage(err)))
			delete(inv.ProxyJump, h.Name)
			continue
		}
		h.Jump = j
		kept = append(kept, h)
	}
	inv.Hosts = kept
	return inv, nil
}

// splitConfigLine splits a configuration line into its lower-case keyword
// and arguments, as OpenSSH does: "Keyword args", "Keyword=args" or
// "Keyword = args"; arguments in double or single quotes may hold spaces;
// a backslash escapes a quote, a backslash or a space; "#" starts a comment
// at the start of a word.
func splitConfigLine(line string) (string, []string, error) {
	s := strings.Trim(line, " \t\r\n")
	if s == "" || s[0] == '#' {
		return "", nil, nil
	}
	i := strings.IndexAny(s, " \t=")
	if i < 0 {
		return strings.ToLower(s), nil, nil
	}
	key := strings.ToLower(s[:i])
	rest := strings.TrimLeft(s[i:], " \t")
	if strings.HasPrefix(rest, "=") {
		rest = strings.TrimLeft(rest[1:], " \t")
	}
	var args []string
	var cur strings.Builder
	inArg := false
	var quote byte
	for i := 0; i < len(rest); i++ {
		ch := rest[i]
		switch {
		case ch == '\\' && i+1 < len(rest) && (strings.IndexByte(`\"'`, rest[i+1]) >= 0 || quote == 0 && rest[i+1] == ' '):
			i++
			cur.WriteByte(rest[i])
			inArg = true
		case quote != 0 && ch == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(ch)
		case ch == ' ' || ch == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case ch == '#' && !inArg:
			return key, args, nil
		case ch == '"' || ch == '\'':
			quote = ch
			inArg = true
		default:
			cur.WriteByte(ch)
			inArg = true
		}
	}
	if quote != 0 {
		return "", nil, fmt.Errorf("unterminated quote")
	}
	if inArg {
		args = append(args, cur.String())
	}
	return key, args, nil
}

// globMatch matches OpenSSH host patterns: "*" any run of characters,
// "?" any one.
func globMatch(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for len(pattern) > 0 && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if globMatch(pattern, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
		}
		pattern, s = pattern[1:], s[1:]
	}
	return s == ""
}

// expandTokens replaces %x tokens with vals and "%%" with "%".
func expandTokens(s string, vals map[byte]string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("a lone %% at the end")
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
		} else if v, ok := vals[s[i]]; ok {
			b.WriteString(v)
		} else {
			return "", fmt.Errorf("token %%%c is not supported", s[i])
		}
	}
	return b.String(), nil
}

// expandHome replaces a leading "~" with the home directory.
func expandHome(path string) string {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return path
	}
	return filepath.Join(home, path[1:])
}

func localUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}
