// Package inventory reads the hosts file (YAML, format in docs/API.md) and
// the Host entries of an OpenSSH client configuration (~/.ssh/config).
package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"gopkg.in/yaml.v3"

	"github.com/gaffer-dev/gaffer"
)

type file struct {
	Hosts []entry `yaml:"hosts"`
}

type entry struct {
	Name         string            `yaml:"name"`
	Address      string            `yaml:"address"`
	Port         int               `yaml:"port"`
	User         string            `yaml:"user"`
	IdentityFile string            `yaml:"identity_file"`
	Labels       map[string]string `yaml:"labels"`
	// ProxyJump is OpenSSH's ProxyJump: jump hosts, comma-separated, each
	// the name of another host here or [user@]host[:port].
	ProxyJump string `yaml:"proxy_jump"`
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Load reads an inventory file; each host's Jump holds its proxy_jump
// route.
func Load(path string) ([]gaffer.Host, error) {
	inv, err := LoadInventory(path)
	if err != nil {
		return nil, err
	}
	return inv.Hosts, nil
}

// LoadInventory reads an inventory file, keeping each host's proxy_jump
// as written, for Merge.
func LoadInventory(path string) (*Inventory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	inv, err := ParseInventory(b)
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	return inv, nil
}

// Parse reads inventory YAML, checking every entry; each host's Jump holds
// its proxy_jump route.
func Parse(b []byte) ([]gaffer.Host, error) {
	inv, err := ParseInventory(b)
	if err != nil {
		return nil, err
	}
	return inv.Hosts, nil
}

// ParseInventory reads inventory YAML, checking every entry, keeping each
// host's proxy_jump as written, for Merge.
func ParseInventory(b []byte) (*Inventory, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, gaffer.Errorf(gaffer.EINVALID, "not a valid inventory: %v", err)
	}
	seen := map[string]bool{}
	inv := &Inventory{ProxyJump: map[string]string{}}
	for i, e := range f.Hosts {
		switch {
		case !validName.MatchString(e.Name):
			return nil, gaffer.Errorf(gaffer.EINVALID, "host #%d: name %q must be letters, digits, '.', '_' or '-'", i+1, e.Name)
		case seen[e.Name]:
			return nil, gaffer.Errorf(gaffer.EINVALID, "host %q is listed twice", e.Name)
		case e.Name == "local":
			return nil, gaffer.Errorf(gaffer.EINVALID, "host name \"local\" is reserved for the server itself")
		case e.Address == "":
			return nil, gaffer.Errorf(gaffer.EINVALID, "host %q has no address", e.Name)
		case e.Port < 0 || e.Port > 65535:
			return nil, gaffer.Errorf(gaffer.EINVALID, "host %q: port %d is not a TCP port", e.Name, e.Port)
		}
		seen[e.Name] = true
		if e.Port == 0 {
			e.Port = 22
		}
		if e.Labels == nil {
			e.Labels = map[string]string{}
		}
		inv.Hosts = append(inv.Hosts, gaffer.Host{Name: e.Name, Address: e.Address, Port: e.Port, User: e.User,
			IdentityFile: e.IdentityFile, Labels: e.Labels})
		if e.ProxyJump != "" {
			inv.ProxyJump[e.Name] = e.ProxyJump
		}
	}
	// Unknown names, bad ports and loops show now rather than at the
	// first job.
	if err := inv.setJumps(); err != nil {
		return nil, err
	}
	return inv, nil
}

// Local is the host that runs commands on the server itself.
func Local() gaffer.Host {
	return gaffer.Host{Name: "local", Address: "localhost", Labels: map[string]string{}, Local: true}
}
