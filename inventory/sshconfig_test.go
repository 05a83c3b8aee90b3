package inventory

import (
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gaffer-dev/gaffer"
)

func TestParseSSHConfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	uid := strconv.Itoa(os.Getuid())
	// host builds the expected entry: port 22 and no labels unless given.
	host := func(name, addr string, port int, user, key string) gaffer.Host {
		return gaffer.Host{Name: name, Address: addr, Port: port, User: user, IdentityFile: key, Labels: map[string]string{}}
	}

	tests := []struct {
		name      string
		config    string
		files     map[string]string // more files under ~/.ssh
		want      []gaffer.Host
		wantJumps map[string]string
		warnings  []string // substrings, one per warning
		wantErr   string
	}{
		{name: "one host",
			config: "Host web1\n  HostName 10.0.0.1\n  User deploy\n  Port 2222\n  IdentityFile ~/.ssh/web_key\n",
			want:   []gaffer.Host{host("web1", "10.0.0.1", 2222, "deploy", home+"/.ssh/web_key")}},
		{name: "no HostName: the name is the address",
			config: "Host db.internal\n",
			want:   []gaffer.Host{host("db.internal", "db.internal", 22, "", "")}},
		{name: "wildcard entries at the end are defaults",
			config: "Host web1 web2\n  User deploy\nHost web2\n  Port 2200\nHost *\n  User root\n  Port 2222\n  IdentityFile ~/.ssh/%h-%r-%p-%n-%u-%i-%%\n",
			want: []gaffer.Host{
				host("web1", "web1", 2222, "deploy", home+"/.ssh/web1-deploy-2222-web1-"+me.Username+"-"+uid+"-%"),
				host("web2", "web2", 2200, "deploy", home+"/.ssh/web2-deploy-2200-web2-"+me.Username+"-"+uid+"-%"),
			}},
		{name: "first value wins, even from a wildcard entry",
			config: "Host *\n  User first\nHost web\n  User second\n  HostName %h.example.com\n  HostName ignored\n",
			want:   []gaffer.Host{host("web", "web.example.com", 22, "first", "")}},
		{name: "options before any Host apply to all",
			config: "Port 2022\nHost a\n",
			want:   []gaffer.Host{host("a", "a", 2022, "", "")}},
		{name: "patterns and negation",
			config: "Host web.prod db.prod api.dev apix.dev\nHost *.prod !db.prod\n  User produser\nHost ?pi.dev\n  Port 99\n",
			want: []gaffer.Host{
				host("web.prod", "web.prod", 22, "produser", ""),
				host("db.prod", "db.prod", 22, "", ""),
				host("api.dev", "api.dev", 99, "", ""),
				host("apix.dev", "apix.dev", 22, "", ""),
			}},
		{name: "patterns ignore case",
			config: "Host Web\nHost WEB*\n  User u\n",
			want:   []gaffer.Host{host("Web", "Web", 22, "u", "")}},
		{name: "syntax: case, equals signs, quotes, comments",
			config: "# comment\n\n  HOST a # trailing comment\n\tHOSTNAME=\"10.0.0.9\"\n  port = 2022 # the port\n  IdentityFile \"/keys/with space/id\"\n  User=x\\ y\n",
			want:   []gaffer.Host{host("a", "10.0.0.9", 2022, "x y", "/keys/with space/id")}},
		{name: "only the first IdentityFile",
			config: "Host a\n  IdentityFile /k1\n  IdentityFile /k2\n",
			want:   []gaffer.Host{host("a", "a", 22, "", "/k1")}},
		{name: "IdentityFile none",
			config: "Host a\n  IdentityFile none\n",
			want:   []gaffer.Host{host("a", "a", 22, "", "")}},
		{name: "proxy jump",
			config:    "Host target\n  ProxyJump bastion\nHost bastion\n  HostName 1.2.3.4\nHost other\n  ProxyJump ops@gw.example.com:2222,bastion\n",
			want:      []gaffer.Host{host("target", "target", 22, "", ""), host("bastion", "1.2.3.4", 22, "", ""), host("other", "other", 22, "", "")},
			wantJumps: map[string]string{"target": "bastion", "other": "ops@gw.example.com:2222,bastion"}},
		{name: "ProxyJump none stops a default",
			config:    "Host a\n  ProxyJump none\nHost b\nHost * !gw\n  ProxyJump gw\n",
			want:      []gaffer.Host{host("a", "a", 22, "", ""), host("b", "b", 22, "", "")},
			wantJumps: map[string]string{"b": "gw"}},
		// ssh fails too: "jumphost loop via gw".
		{name: "jump host through itself: host left out",
			config:   "Host b\nHost *\n  ProxyJump gw\n",
			warnings: []string{`host "b" left out: proxy_jump loops: b → gw → gw`}},
		{name: "ProxyCommand: host left out",
			config:   "Host a\n  ProxyCommand nc %h %p\nHost b\n",
			want:     []gaffer.Host{host("b", "b", 22, "", "")},
			warnings: []string{`host "a" left out: ` + "config:2: ProxyCommand is not supported"}},
		{name: "ProxyJump before ProxyCommand wins",
			config:    "Host a\n  ProxyJump gw\n  ProxyCommand nc %h %p\n",
			want:      []gaffer.Host{host("a", "a", 22, "", "")},
			wantJumps: map[string]string{"a": "gw"}},
		{name: "names gaffer cannot use are left out",
			config:   "Host local ok weird,name\n",
			want:     []gaffer.Host{host("ok", "ok", 22, "", "")},
			warnings: []string{`"local" left out`, `"weird,name" left out`}},
		{name: "wildcards only: no hosts",
			config: "Host *\n  User x\n"},
		{name: "Include, relative to ~/.ssh, with a glob",
			config: "Include config.d/*.conf\nHost *\n  User fallback\n",
			files: map[string]string{
				"config.d/1-web.conf": "Host web\n  HostName 10.1.1.1\n",
				"config.d/2-db.conf":  "Host db\n  User dbadmin\nHost web\n  User webuser\n",
				"config.d/skip.txt":   "Host not-included\n",
			},
			want: []gaffer.Host{host("web", "10.1.1.1", 22, "webuser", ""), host("db", "db", 22, "dbadmin", "")}},
		{name: "Include of nothing is no error",
			config: "Include missing/*\nHost a\n",
			want:   []gaffer.Host{host("a", "a", 22, "", "")}},
		{name: "Include inside a Host block applies to it only",
			config: "Host a b\nHost a\n  Include a.conf\nHost *\n  Port 2000\n",
			files:  map[string]string{"a.conf": "Port 1000\n"},
			want:   []gaffer.Host{host("a", "a", 1000, "", ""), host("b", "b", 2000, "", "")}},
		{name: "Match all, host, originalhost, user",
			config: "Host a b c\nHost b\n  HostName b.example.com\nHost c\n  User admin\n" +
				"Match host *.example.com\n  Port 1001\nMatch originalhost a\n  Port 1002\nMatch user admin\n  Port 1003\nMatch !host *.example.com all\n  User plain\n",
			want: []gaffer.Host{host("a", "a", 1002, "plain", ""), host("b", "b.example.com", 1001, "", ""), host("c", "c", 1003, "admin", "")}},
		{name: "Match with unsupported criteria is skipped",
			config:   "Host a\nMatch exec \"true\"\n  Port 1\n",
			want:     []gaffer.Host{host("a", "a", 22, "", "")},
			warnings: []string{`config:2: Match exec is not supported`}},
		{name: "bad port", config: "Host a\n  Port x\n", wantErr: `config:2: Port "x" is not a TCP port`},
		{name: "port out of range", config: "Host a\n  Port 70000\n", wantErr: "not a TCP port"},
		{name: "unknown token", config: "Host a\n  IdentityFile ~/.ssh/%z\n", wantErr: `config:2: IdentityFile "~/.ssh/%z": token %z is not supported`},
		{name: "unterminated quote", config: "Host a\n  User \"x\n", wantErr: "config:2: unterminated quote"},
		{name: "Host without pattern", config: "Host\n", wantErr: "config:1: Host needs at least one pattern"},
		{name: "Match host without patterns", config: "Match host\n", wantErr: "config:1: Match host needs patterns"},
		{name: "value missing", config: "Host a\n  User\n", wantErr: "config:2: user needs a value"},
		{name: "Include loop", config: "Include config\n", files: map[string]string{"config": "Include config\n"}, wantErr: "Include nested more than 16 deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ssh := filepath.Join(home, ".ssh")
			os.RemoveAll(ssh)
			for name, text := range tt.files {
				path := filepath.Join(ssh, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			inv, err := ParseSSHConfig("config", []byte(tt.config))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if gaffer.ErrorCode(err) != gaffer.EINVALID {
					t.Errorf("code = %q", gaffer.ErrorCode(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Routes are checked in TestSSHConfigJumpHosts.
			for i := range inv.Hosts {
				inv.Hosts[i].Jump = nil
			}
			if (len(inv.Hosts) > 0 || len(tt.want) > 0) && !reflect.DeepEqual(inv.Hosts, tt.want) {
				t.Errorf("hosts:\n got %+v\nwant %+v", inv.Hosts, tt.want)
			}
			wantJumps := tt.wantJumps
			if wantJumps == nil {
				wantJumps = map[string]string{}
			}
			if !reflect.DeepEqual(inv.ProxyJump, wantJumps) {
				t.Errorf("jumps = %v, want %v", inv.ProxyJump, wantJumps)
			}
			if len(inv.Warnings) != len(tt.warnings) {
				t.Errorf("warnings = %q, want %d", inv.Warnings, len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if i < len(inv.Warnings) && !strings.Contains(inv.Warnings[i], w) {
					t.Errorf("warning %q lacks %q", inv.Warnings[i], w)
				}
			}
		})
	}
}

// Jump hosts of an ssh_config inventory get the configuration's settings
// for their names too, as ssh -J would.
func TestSSHConfigJumpHosts(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	inv, err := ParseSSHConfig("config", []byte(`
Host app
  ProxyJump gw.example.com
Host db
  ProxyJump jumper@gw.example.com:2200,inner
Host inner
  HostName 10.0.0.2
  ProxyJump outer
Host *.example.com
  User gwuser
  IdentityFile ~/.ssh/gw_key
`))
	if err != nil {
		t.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	gw := gaffer.Host{Name: "gw.example.com", Address: "gw.example.com", Port: 22, User: "gwuser", IdentityFile: home + "/.ssh/gw_key", Labels: map[string]string{}}
	inner := gaffer.Host{Name: "inner", Address: "10.0.0.2", Port: 22, Labels: map[string]string{}}

	jumps := func(name string) []gaffer.Host {
		t.Helper()
		for _, h := range inv.Hosts {
			if h.Name == name {
				j, err := inv.JumpHosts(&h)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(h.Jump, j) {
					t.Errorf("%s: Jump %+v, want %+v", name, h.Jump, j)
				}
				return j
			}
		}
		t.Fatalf("no host %s", name)
		return nil
	}
	if got := jumps("app"); !reflect.DeepEqual(got, []gaffer.Host{gw}) {
		t.Errorf("app: %+v", got)
	}
	// "a,b": a as configured (no jump of its own here), then b through a;
	// b's own ProxyJump is not used, as with ssh -J a,b.
	gw2 := gw
	gw2.User, gw2.Port = "jumper", 2200
	if got := jumps("db"); !reflect.DeepEqual(got, []gaffer.Host{gw2, inner}) {
		t.Errorf("db: %+v", got)
	}
	// inner's own jump host is reached first.
	outer := gaffer.Host{Name: "outer", Address: "outer", Port: 22, Labels: map[string]string{}}
	if got := jumps("inner"); !reflect.DeepEqual(got, []gaffer.Host{outer}) {
		t.Errorf("inner: %+v", got)
	}
}

func TestLoadSSHConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte("Host a\n  Port x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSSHConfig(path); err == nil || !strings.Contains(err.Error(), path+":2: Port") {
		t.Errorf("err = %v", err)
	}
	if _, err := LoadSSHConfig(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "read ssh config") {
		t.Errorf("err = %v", err)
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*", "abc", true}, {"*c", "abc", true},
		{"a*c", "ac", true}, {"a*c", "abd", false}, {"?", "a", true}, {"?", "", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*.prod", "web.prod", true},
		{"*.prod", "web.prod.x", false}, {"a**b", "ab", true}, {"abc", "abc", true}, {"abc", "ab", false},
	} {
		if got := globMatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}
