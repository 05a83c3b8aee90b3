package bench

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// ---------------------------------------------------------------- Fleet200

const (
	fleet200Hosts  = 200
	fleet200Rounds = 5
)

// BenchmarkFleet200: `uname -a` on 200 hosts (200 loopback addresses,
// 127.0.0.2-127.0.0.201, served by 13 sshd of at most 16 addresses each,
// MaxStartups 200 so that none of 200 logins at once is dropped), the login
// shell dash with no start-up files: the time is the handshakes'. From a
// shell, process start to exit: `gaffer run -l role=fleet --concurrency 200`
// on a fresh server (cold: empty pool) and again (warm), the same with the
// server's default concurrency, and `parallel-ssh -p 200 -i`; the limit, 200
// x/crypto/ssh dials and sessions at once in this process (cold), then one
// more session on each (warm). Median of 5 rounds, each running every tool
// once.
func BenchmarkFleet200(b *testing.B) {
	bin := gafferBinary(b)
	psshPath, err := exec.LookPath("parallel-ssh")
	if err != nil {
		b.Fatal("BenchmarkFleet200 compares with parallel-ssh: apt-get install -y pssh")
	}
	raiseNoFile(b) // 200 connections, and parallel-ssh's 200 children's pipes
	s := sshtest.Start(b, sshtest.Options{Hosts: fleet200Hosts})
	names := make([]string, fleet200Hosts)
	for i := range names {
		names[i] = fmt.Sprintf("host-%d", i+1)
	}
	inv := writeInventory(b, s, names, "{role: fleet}")
	psshHosts := writeFile(b, b.TempDir(), "pssh-hosts", func(w *strings.Builder) {
		for _, a := range s.Addrs {
			host, _, _ := strings.Cut(a, ":")
			fmt.Fprintln(w, host)
		}
	})
	cfg := sshConfig(b, s)
	gafferArgs := func(srv *server, extra ...string) []string {
		return append(append([]string{"run", "--server", srv.URL, "--token", adminToken, "-l", "role=fleet"}, extra...), "--", "uname", "-a")
	}
	c200 := []string{"--concurrency", strconv.Itoa(fleet200Hosts)}
	psshArgs := []string{"-p", strconv.Itoa(fleet200Hosts), "-h", psshHosts,
		"-x", fmt.Sprintf("-F /dev/null -i %s -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -p %d",
			s.KeyFile, s.KnownHosts, s.Port),
		"-l", s.User, "-i", fleetCommand}

	type series struct{ wall, cpu []time.Duration }
	var bareCold, bareWarm, gCold, gWarm, gdCold, gdWarm, pssh series
	add := func(s *series, r toolRun) {
		s.wall = append(s.wall, r.wall)
		s.cpu = append(s.cpu, r.cpu)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range fleet200Rounds {
			// The limit: all 200 dialed at once, one session each; then
			// one more session on each open connection.
			cpu0 := selfCPU()
			clients, d := bareFleetDial(b, s, cfg)
			add(&bareCold, toolRun{wall: d, cpu: selfCPU() - cpu0})
			cpu0 = selfCPU()
			d = bareFleetRun(b, clients)
			add(&bareWarm, toolRun{wall: d, cpu: selfCPU() - cpu0})
			for _, c := range clients {
				c.Close()
			}

			// Gaffer, --concurrency 200: fresh server, then warm.
			srv := startServer(b, bin, inv, s.KnownHosts)
			add(&gCold, runGaffer(b, bin, srv, gafferArgs(srv, c200...), fleet200Hosts))
			add(&gWarm, runGaffer(b, bin, srv, gafferArgs(srv, c200...), fleet200Hosts))
			srv.stop()

			// Gaffer with the job's default concurrency.
			srv = startServer(b, bin, inv, s.KnownHosts)
			add(&gdCold, runGaffer(b, bin, srv, gafferArgs(srv), fleet200Hosts))
			add(&gdWarm, runGaffer(b, bin, srv, gafferArgs(srv), fleet200Hosts))
			srv.stop()

			add(&pssh, runTool(b, "parallel-ssh", psshPath, psshArgs, nil, fleet200Hosts, countPSSH))

			// Each round as it went, with the load: a later round that
			// fails (a host timed out) leaves these.
			last := func(s series) float64 { return ms(s.wall[len(s.wall)-1]) }
			b.Logf("round %d, load %s: limit %.0f / %.0f ms; gaffer c200 %.0f / %.0f ms; default %.0f / %.0f ms (cold / warm); parallel-ssh %.0f ms",
				len(pssh.wall), loadAverage(), last(bareCold), last(bareWarm), last(gCold), last(gWarm), last(gdCold), last(gdWarm), last(pssh))
		}
	}
	b.StopTimer()

	med := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	fig := func(name, metric string, s series) string {
		b.ReportMetric(ms(med(s.wall)), metric+"-ms")
		b.ReportMetric(ms(med(s.cpu)), metric+"-cpu-ms")
		return fmt.Sprintf("%s %.0f ms (%.0f–%.0f) CPU %.0f ms", name, ms(med(s.wall)), ms(slices.Min(s.wall)), ms(slices.Max(s.wall)), ms(med(s.cpu)))
	}
	ratio := func(metric string, s, limit series) string {
		r := float64(med(s.wall)) / float64(med(limit.wall))
		b.ReportMetric(r, metric+"-x")
		return fmt.Sprintf("%.2f×", r)
	}
	b.Logf("`%s` on %d hosts (%d sshd on loopback, login shell dash), median of %d (min–max), process start to exit; CPU: user+sys of the tool and the children it waited for (gaffer: the CLI plus the server's; the limit: this process's)",
		fleetCommand, fleet200Hosts, (fleet200Hosts+15)/16, len(gCold.wall))
	b.Logf("limit, %d x/crypto/ssh at once in-process: %s; %s",
		fleet200Hosts, fig("dial+session (cold)", "ssh-cold", bareCold), fig("session on open connections (warm)", "ssh-warm", bareWarm))
	b.Logf("gaffer run --concurrency %d: %s = %s the limit; %s = %s the limit",
		fleet200Hosts, fig("fresh server (cold)", "gaffer-c200-cold", gCold), ratio("gaffer-c200-cold", gCold, bareCold),
		fig("warm", "gaffer-c200-warm", gWarm), ratio("gaffer-c200-warm", gWarm, bareWarm))
	b.Logf("gaffer run, default concurrency: %s = %s; %s = %s",
		fig("cold", "gaffer-default-cold", gdCold), ratio("gaffer-default-cold", gdCold, bareCold),
		fig("warm", "gaffer-default-warm", gdWarm), ratio("gaffer-default-warm", gdWarm, bareWarm))
	b.Logf("parallel-ssh -p %d -i: %s = %s the limit, %s gaffer cold",
		fleet200Hosts, fig("", "pssh", pssh), ratio("pssh", pssh, bareCold), ratio("pssh-over-gaffer", pssh, gCold))
}

// loadAverage is the 1-minute load average, as /proc/loadavg has it.
func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
