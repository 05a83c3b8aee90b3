package inventory

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	hosts, err := Parse([]byte(`
hosts:
  - name: web-1
    address: 10.0.0.11
    user: deploy
    identity_file: ~/.ssh/id_ed25519
    labels: {role: web, env: prod}
  - name: db-1
    address: db.internal
    port: 2222
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 || hosts[0].Port != 22 || hosts[0].Labels["role"] != "web" || hosts[1].Port != 2222 {
		t.Fatalf("got %+v", hosts)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"hosts: [{name: a}]", "no address"},
		{"hosts: [{name: a, address: x}, {name: a, address: y}]", "listed twice"},
		{"hosts: [{name: 'bad name', address: x}]", "must be letters"},
		{"hosts: [{name: a, address: x, port: 70000}]", "not a TCP port"},
		{"hosts: [{name: a, address: x, colour: red}]", "not a valid inventory"},
		{"hosts: [{name: local, address: x}]", "reserved"},
		{"hosts: {", "not a valid inventory"},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
