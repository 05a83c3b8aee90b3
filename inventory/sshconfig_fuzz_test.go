package inventory

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

// FuzzParseSSHConfig parses any text, with any text in ~/.ssh/inc that it
// may Include: no panic; an error is EINVALID and says where ("config:N:"
// or "…/inc:N:", N a line of that file); parsing twice gives the same
// hosts and warnings; and every host kept has a usable name and port.
func FuzzParseSSHConfig(f *testing.F) {
	// The configurations of TestParseSSHConfig.
	for _, c := range []string{
		"Host web1\n  HostName 10.0.0.1\n  User deploy\n  Port 2222\n  IdentityFile ~/.ssh/web_key\n",
		"Host db.internal\n",
		"Host web1 web2\n  User deploy\nHost web2\n  Port 2200\nHost *\n  User root\n  Port 2222\n  IdentityFile ~/.ssh/%h-%r-%p-%n-%u-%i-%%\n",
		"Host *\n  User first\nHost web\n  User second\n  HostName %h.example.com\n  HostName ignored\n",
		"Port 2022\nHost a\n",
		"Host web.prod db.prod api.dev apix.dev\nHost *.prod !db.prod\n  User produser\nHost ?pi.dev\n  Port 99\n",
		"Host Web\nHost WEB*\n  User u\n",
		"# comment\n\n  HOST a # trailing comment\n\tHOSTNAME=\"10.0.0.9\"\n  port = 2022 # the port\n  IdentityFile \"/keys/with space/id\"\n  User=x\\ y\n",
		"Host a\n  IdentityFile /k1\n  IdentityFile /k2\n",
		"Host a\n  IdentityFile none\n",
		"Host target\n  ProxyJump bastion\nHost bastion\n  HostName 1.2.3.4\nHost other\n  ProxyJump ops@gw.example.com:2222,bastion\n",
		"Host a\n  ProxyJump none\nHost b\nHost * !gw\n  ProxyJump gw\n",
		"Host b\nHost *\n  ProxyJump gw\n",
		"Host a\n  ProxyCommand nc %h %p\nHost b\n",
		"Host a\n  ProxyJump gw\n  ProxyCommand nc %h %p\n",
		"Host local ok weird,name\n",
		"Host *\n  User x\n",
		"Include inc\nHost *\n  User fallback\n",
		"Include missing*\nHost a\n",
		"Host a b\nHost a\n  Include inc\nHost *\n  Port 2000\n",
		"Host a b c\nHost b\n  HostName b.example.com\nHost c\n  User admin\n" +
			"Match host *.example.com\n  Port 1001\nMatch originalhost a\n  Port 1002\nMatch user admin\n  Port 1003\nMatch !host *.example.com all\n  User plain\n",
		"Host a\nMatch exec \"true\"\n  Port 1\n",
		"Host a\n  Port x\n",
		"Host a\n  Port 70000\n",
		"Host a\n  IdentityFile ~/.ssh/%z\n",
		"Host a\n  User \"x\n",
		"Host\n",
		"Match host\n",
		"Host a\n  User\n",
		"Include inc\n",
		"Host app\n  ProxyJump gw.example.com\nHost db\n  ProxyJump jumper@gw.example.com:2200,inner\nHost inner\n  HostName 10.0.0.2\n  ProxyJump outer\nHost *.example.com\n  User gwuser\n  IdentityFile ~/.ssh/gw_key\n",
		"Host a\n  HostName %\n", "Host a\n  Port 0\n", "Host a\n  ProxyJump [::1]:22,a\n", "Host a*b*c*d*e\n",
	} {
		f.Add(c, "")
	}
	f.Add("Host a\n  Include inc\n", "Port 1000\nHost b\n")
	f.Add("Include inc\n", "Include inc\n")
	f.Add("Include inc\n", "Host x\n  Port y\n")

	home := f.TempDir()
	f.Setenv("HOME", home)
	ssh := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(ssh, 0o700); err != nil {
		f.Fatal(err)
	}
	inc := filepath.Join(ssh, "inc")
	where := regexp.MustCompile(`^(config|` + regexp.QuoteMeta(inc) + `):([0-9]+): `)

	f.Fuzz(func(t *testing.T, config, included string) {
		// Include may name only files in ~/.ssh: this one, or none. And a
		// file that includes itself twice over is parsed 2^16 times (as by
		// OpenSSH): too slow to fuzz, and no bug.
		for i, text := range []string{config, included} {
			n := 0
			for _, line := range strings.Split(text, "\n") {
				if key, args, _ := splitConfigLine(line); key == "include" {
					for _, a := range args {
						if strings.ContainsAny(a, `/\~[`) {
							t.Skip("Include outside ~/.ssh")
						}
					}
					if n += len(args); i == 1 && n > 1 {
						t.Skip("Include fan-out")
					}
				}
			}
		}
		if err := os.WriteFile(inc, []byte(included), 0o600); err != nil {
			t.Fatal(err)
		}

		inv, err := ParseSSHConfig("config", []byte(config))
		inv2, err2 := ParseSSHConfig("config", []byte(config))
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("two parses: %v, then %v", err, err2)
		}
		if err != nil {
			msg := err.Error()
			if gaffer.ErrorCode(err) != gaffer.EINVALID {
				t.Fatalf("error %q has code %q, want %q", msg, gaffer.ErrorCode(err), gaffer.EINVALID)
			}
			m := where.FindStringSubmatch(msg)
			if m == nil {
				t.Fatalf("error %q does not say where", msg)
			}
			text := config
			if m[1] == inc {
				text = included
			}
			if n, _ := strconv.Atoi(m[2]); n < 1 || n > strings.Count(text, "\n")+1 {
				t.Fatalf("error %q: no line %s in that file", msg, m[2])
			}
			if strings.TrimSpace(msg[len(m[0]):]) == "" {
				t.Fatalf("error %q says nothing", msg)
			}
			return
		}
		if !reflect.DeepEqual(inv.Hosts, inv2.Hosts) || !reflect.DeepEqual(inv.Warnings, inv2.Warnings) {
			t.Fatalf("two parses:\n%+v %q\n%+v %q", inv.Hosts, inv.Warnings, inv2.Hosts, inv2.Warnings)
		}
		seen := map[string]bool{}
		for _, h := range inv.Hosts {
			if !validName.MatchString(h.Name) || h.Name == "local" || seen[h.Name] {
				t.Fatalf("host %q kept (seen before: %v)", h.Name, seen[h.Name])
			} else if h.Port < 1 || h.Port > 65535 {
				t.Fatalf("host %q: port %d", h.Name, h.Port)
			} else if h.Address == "" {
				t.Fatalf("host %q: no address", h.Name)
			}
			seen[h.Name] = true
			if _, err := inv.JumpHosts(&h); err != nil {
				t.Fatalf("host %q kept with jump hosts that fail: %v", h.Name, err)
			}
			for _, j := range h.Jump {
				if j.Address == "" || j.Port < 1 || j.Port > 65535 {
					t.Fatalf("host %q: jump host %+v", h.Name, j)
				}
			}
		}
	})
}
