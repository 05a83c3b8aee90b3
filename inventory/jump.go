package inventory

import (
	"net"
	"strconv"
	"strings"

	"github.com/gaffer-dev/gaffer"
)

// maxJumps bounds a chain of jump hosts, as the SSH executor does.
const maxJumps = 8

// Inventory is a list of hosts, each with its route (gaffer.Host.Jump)
// resolved, and what that route was resolved from.
type Inventory struct {
	Hosts []gaffer.Host
	// ProxyJump holds each host's jump hosts by host name, in OpenSSH's
	// ProxyJump syntax: comma-separated, each the name of a host of the
	// inventory or [user@]host[:port]. Merge resolves names across
	// inventories from it.
	ProxyJump map[string]string
	// Warnings are parts of the source that were skipped, for a log.
	Warnings []string

	// resolve, if set, gives the host and jump hosts an ssh_config says a
	// name means, for jump hosts that are not in Hosts.
	resolve func(name string) (gaffer.Host, string, error)
}

// JumpHosts returns the hosts to reach h through, first hop first: none
// for a direct connection. A jump host
// named after a host of the inventory is that host (its user, port and
// identity file, and its own jump hosts before it); any other is
// [user@]host[:port], with an ssh_config's settings for that host if the
// inventory came from one.
func (inv *Inventory) JumpHosts(h *gaffer.Host) ([]gaffer.Host, error) {
	return inv.jumps(inv.ProxyJump[h.Name], []string{h.Name})
}

// setJumps resolves every host's route into its Jump, or fails naming the
// first host whose proxy_jump cannot be resolved.
func (inv *Inventory) setJumps() error {
	for i := range inv.Hosts {
		j, err := inv.JumpHosts(&inv.Hosts[i])
		if err != nil {
			return gaffer.Errorf(gaffer.EINVALID, "host %q: %s", inv.Hosts[i].Name, gaffer.ErrorMessage(err))
		}
		inv.Hosts[i].Jump = j
	}
	return nil
}

// jumps resolves a ProxyJump value; path is the chain of names that led
// to it, to report loops.
func (inv *Inventory) jumps(spec string, path []string) ([]gaffer.Host, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || strings.EqualFold(spec, "none") {
		return nil, nil
	}
	var chain []gaffer.Host
	for i, part := range strings.Split(spec, ",") {
		user, name, port, err := parseJump(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		for _, p := range path {
			if p == name {
				return nil, gaffer.Errorf(gaffer.EINVALID, "proxy_jump loops: %s → %s", strings.Join(path, " → "), name)
			}
		}
		jump, ownJumps, err := inv.lookup(name)
		if err != nil {
			return nil, err
		}
		// As with ssh -J a,b: the first jump host is reached the way it
		// is configured, the next ones through the previous.
		if i == 0 {
			before, err := inv.jumps(ownJumps, append(path[:len(path):len(path)], name))
			if err != nil {
				return nil, err
			}
			chain = append(chain, before...)
		}
		if user != "" {
			jump.User = user
		}
		if port != 0 {
			jump.Port = port
		}
		chain = append(chain, jump)
	}
	if len(chain) > maxJumps {
		return nil, gaffer.Errorf(gaffer.EINVALID, "proxy_jump %q needs %d jump hosts; at most %d are allowed", spec, len(chain), maxJumps)
	}
	return chain, nil
}

// lookup returns the host a jump host name stands for, and its own
// ProxyJump.
func (inv *Inventory) lookup(name string) (gaffer.Host, string, error) {
	for _, h := range inv.Hosts {
		if h.Name == name {
			h.Jump = nil // the chain holds the route to it
			return h, inv.ProxyJump[name], nil
		}
	}
	if inv.resolve != nil {
		return inv.resolve(name)
	}
	return gaffer.Host{Name: name, Address: name, Port: 22}, "", nil
}

// parseJump splits one ProxyJump entry: [user@]host[:port], host may be
// a bracketed IPv6 address, and ssh://[user@]host[:port] is accepted too.
func parseJump(s string) (user, host string, port int, err error) {
	orig := s
	bad := func(why string) (string, string, int, error) {
		return "", "", 0, gaffer.Errorf(gaffer.EINVALID, "proxy_jump entry %q %s: write [user@]host[:port]", orig, why)
	}
	s = strings.TrimPrefix(s, "ssh://")
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		user, s = s[:i], s[i+1:]
		if user == "" {
			return bad("has an empty user")
		}
	}
	host = s
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
				return bad("is not host:port")
			}
			h, p = s[1:len(s)-1], "" // [v6] without a port
		}
		host = h
		if p != "" {
			if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
				return bad("has no valid port")
			}
		}
	}
	if host == "" || strings.ContainsAny(host, " \t/") {
		return bad("has no host")
	}
	return user, host, port, nil
}

// Merge joins inventories, such as the hosts file and ~/.ssh/config, into
// one: jump host names then resolve across all of them, and names none of
// them lists get the settings of the first ssh_config among them. A host
// name in two of them is an error.
func Merge(invs ...*Inventory) (*Inventory, error) {
	out := &Inventory{ProxyJump: map[string]string{}}
	seen := map[string]bool{}
	for _, inv := range invs {
		for _, h := range inv.Hosts {
			if seen[h.Name] {
				return nil, gaffer.Errorf(gaffer.EINVALID, "host %q is listed twice (in the inventory and the ssh config?)", h.Name)
			}
			seen[h.Name] = true
			out.Hosts = append(out.Hosts, h)
			if j := inv.ProxyJump[h.Name]; j != "" {
				out.ProxyJump[h.Name] = j
			}
		}
		out.Warnings = append(out.Warnings, inv.Warnings...)
		if out.resolve == nil {
			out.resolve = inv.resolve
		}
	}
	if err := out.setJumps(); err != nil {
		return nil, err
	}
	return out, nil
}
