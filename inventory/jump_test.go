package inventory

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

func TestInventoryProxyJump(t *testing.T) {
	inv, err := ParseInventory([]byte(`
hosts:
  - name: outer
    address: 203.0.113.1
    user: ops
    identity_file: /keys/outer
  - name: bastion
    address: 10.0.0.1
    port: 2222
    user: jump
    proxy_jump: outer
  - name: web-1
    address: 10.0.1.11
    proxy_jump: bastion
  - name: web-2
    address: 10.0.1.12
    proxy_jump: deploy@gw.example.com:2200
  - name: web-3
    address: 10.0.1.13
    proxy_jump: "ssh://gw.example.com, bastion"
  - name: web-4
    address: 10.0.1.14
    proxy_jump: "admin@bastion:22"
  - name: web-5
    address: 10.0.1.15
    proxy_jump: "[2001:db8::1]:2222,[2001:db8::2]"
  - name: direct
    address: 10.0.1.99
    proxy_jump: none
`))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]gaffer.Host{}
	for _, h := range inv.Hosts {
		byName[h.Name] = h
	}
	outer, bastion := byName["outer"], byName["bastion"]
	bastion.Jump = nil // in a chain, the hops before it hold its route
	adhoc := func(addr string, port int, user string) gaffer.Host {
		return gaffer.Host{Name: addr, Address: addr, Port: port, User: user}
	}
	bastionAsAdmin := bastion
	bastionAsAdmin.User, bastionAsAdmin.Port = "admin", 22

	tests := []struct {
		host string
		want []gaffer.Host
	}{
		{"outer", nil},
		{"bastion", []gaffer.Host{outer}},
		// The bastion's own jump host comes first.
		{"web-1", []gaffer.Host{outer, bastion}},
		{"web-2", []gaffer.Host{adhoc("gw.example.com", 2200, "deploy")}},
		// "a,b": b through a, b's own proxy_jump not used (as ssh -J a,b).
		{"web-3", []gaffer.Host{adhoc("gw.example.com", 22, ""), bastion}},
		{"web-4", []gaffer.Host{outer, bastionAsAdmin}},
		{"web-5", []gaffer.Host{adhoc("2001:db8::1", 2222, ""), adhoc("2001:db8::2", 22, "")}},
		{"direct", nil},
	}
	for _, tt := range tests {
		// The host carries its route.
		h := byName[tt.host]
		if !reflect.DeepEqual(h.Jump, tt.want) {
			t.Errorf("%s: Jump\n got %+v\nwant %+v", tt.host, h.Jump, tt.want)
		}
		got, err := inv.JumpHosts(&h)
		if err != nil {
			t.Errorf("%s: %v", tt.host, err)
		} else if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.host, got, tt.want)
		}
	}
	// A host not from the inventory has no jump hosts.
	if got, err := inv.JumpHosts(&gaffer.Host{Name: "elsewhere"}); err != nil || got != nil {
		t.Errorf("elsewhere: %v, %v", got, err)
	}
	// Parse keeps the route too.
	if hosts, err := Parse([]byte("hosts: [{name: a, address: x, proxy_jump: b}]")); err != nil || len(hosts) != 1 || len(hosts[0].Jump) != 1 || hosts[0].Jump[0].Address != "b" {
		t.Errorf("Parse: %+v, %v", hosts, err)
	}
}

func TestInventoryProxyJumpErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"hosts: [{name: a, address: x, proxy_jump: b}, {name: b, address: y, proxy_jump: a}]", `host "a": proxy_jump loops: a → b → a`},
		{"hosts: [{name: a, address: x, proxy_jump: a}]", `host "a": proxy_jump loops: a → a`},
		{"hosts: [{name: a, address: x, proxy_jump: 'gw:x'}]", `proxy_jump entry "gw:x" has no valid port`},
		{"hosts: [{name: a, address: x, proxy_jump: 'gw:0'}]", `has no valid port`},
		{"hosts: [{name: a, address: x, proxy_jump: '@gw'}]", `proxy_jump entry "@gw" has an empty user`},
		{"hosts: [{name: a, address: x, proxy_jump: 'gw,'}]", `proxy_jump entry "" has no host`},
		{"hosts: [{name: a, address: x, proxy_jump: 'g,h,i,j,k,l,m,n,o'}]", `needs 9 jump hosts; at most 8`},
	} {
		_, err := ParseInventory([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.yaml, err, tc.want)
		} else if gaffer.ErrorCode(err) != gaffer.EINVALID {
			t.Errorf("%s: code %q", tc.yaml, gaffer.ErrorCode(err))
		}
	}
}

func TestMerge(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	yamlInv, err := ParseInventory([]byte("hosts: [{name: web-1, address: 10.0.1.11, proxy_jump: bastion}]"))
	if err != nil {
		t.Fatal(err)
	}
	sshInv, err := ParseSSHConfig("config", []byte("Host bastion\n  HostName 1.2.3.4\n  User jump\nHost *.example.com\n  User gwuser\n"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Merge(yamlInv, sshInv)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Hosts) != 2 || inv.Hosts[0].Name != "web-1" || inv.Hosts[1].Name != "bastion" {
		t.Fatalf("hosts = %+v", inv.Hosts)
	}
	// The hosts file refers to a host of the ssh config.
	got := inv.Hosts[0].Jump
	if len(got) != 1 || got[0].Address != "1.2.3.4" || got[0].User != "jump" {
		t.Errorf("jump hosts of web-1 = %+v", got)
	}
	// Names in neither get the ssh config's settings.
	inv.ProxyJump["web-1"] = "gw.example.com"
	if got, err := inv.JumpHosts(&inv.Hosts[0]); err != nil || len(got) != 1 || got[0].User != "gwuser" {
		t.Errorf("jump hosts of web-1 = %+v, %v", got, err)
	}

	if _, err := Merge(sshInv, sshInv); err == nil || !strings.Contains(err.Error(), `host "bastion" is listed twice`) {
		t.Errorf("duplicate: %v", err)
	}
}
