package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

// ---------------------------------------------------------------- Fleet

const (
	fleetHosts   = 40
	fleetRuns    = 5
	fleetCommand = "uname -a"
	// fleetBashrc is the hosts' ~/.bashrc (their login shell is bash, which
	// reads it for every command sshd runs): 0.1 s, as one that loads a
	// version manager takes. A sleep rather than work, so that 40 hosts
	// sharing this machine's cores pay it side by side, as real hosts do.
	fleetBashrc = "sleep 0.1"
)

// BenchmarkFleet: one short command on 40 hosts whose shell start-up takes
// 0.1 s, end to end from a shell: the gaffer CLI against a running server,
// parallel-ssh and ansible, each from process start to exit, median of 5,
// all in the same run; and the limit, 40 x/crypto/ssh sessions at once from
// inside this process. With -short, ansible (most of the time taken, and
// the heaviest load) is left out.
func BenchmarkFleet(b *testing.B) {
	bin := gafferBinary(b)
	psshPath, err1 := exec.LookPath("parallel-ssh")
	ansiblePath, err2 := exec.LookPath("ansible")
	withAnsible := !testing.Short()
	if err1 != nil || err2 != nil && withAnsible {
		b.Fatal("BenchmarkFleet compares with parallel-ssh and ansible: apt-get install -y pssh ansible (or -short: without ansible)")
	}
	s := sshtest.Start(b, sshtest.Options{Hosts: fleetHosts, Bashrc: fleetBashrc})
	names := make([]string, fleetHosts)
	for i := range names {
		names[i] = fmt.Sprintf("host-%d", i+1)
	}
	inv := writeInventory(b, s, names, "{role: web}")
	dir := b.TempDir()
	psshHosts := writeFile(b, dir, "pssh-hosts", func(w *strings.Builder) {
		for _, a := range s.Addrs {
			host, _, _ := strings.Cut(a, ":")
			fmt.Fprintln(w, host)
		}
	})
	ansibleInv := writeFile(b, dir, "ansible-hosts", func(w *strings.Builder) {
		for i, a := range s.Addrs {
			host, _, _ := strings.Cut(a, ":")
			fmt.Fprintf(w, "%s ansible_host=%s ansible_port=%d ansible_user=%s ansible_ssh_private_key_file=%s\n",
				names[i], host, s.Port, s.User, s.KeyFile)
		}
		fmt.Fprintf(w, "\n[all:vars]\nansible_ssh_common_args='-o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null'\n", s.KnownHosts)
		fmt.Fprintln(w, "ansible_python_interpreter=/usr/bin/python3")
	})
	ansibleCfg := writeFile(b, dir, "ansible.cfg", func(*strings.Builder) {})
	cfg := sshConfig(b, s)

	gafferArgs := func(srv *server, extra ...string) []string {
		return append(append([]string{"run", "--server", srv.URL, "--token", adminToken, "-l", "role=web"}, extra...), "--", "uname", "-a")
	}
	psshArgs := []string{"-p", strconv.Itoa(fleetHosts), "-h", psshHosts,
		"-x", fmt.Sprintf("-F /dev/null -i %s -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes -p %d",
			s.KeyFile, s.KnownHosts, s.Port),
		"-l", s.User, "-i", fleetCommand}
	ansibleArgs := []string{"all", "-i", ansibleInv, "-m", "shell", "-a", fleetCommand, "-f", strconv.Itoa(fleetHosts)}

	// Each kind of run: wall times, client-side CPU times.
	type series struct{ wall, cpu []time.Duration }
	var bareCold, bareWarm, gCold, gWarm, g40Cold, g40Warm, pssh, ansCold, ansWarm series
	add := func(s *series, r toolRun) {
		s.wall = append(s.wall, r.wall)
		s.cpu = append(s.cpu, r.cpu)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Rounds, each tool once per round, so that a burst of load on
		// the shared machine falls on all of them alike.
		for round := range fleetRuns {
			// The limit: 40 x/crypto/ssh connections dialed at once,
			// one session each (cold); then one more session on each of
			// the same connections (warm).
			clients, d := bareFleetDial(b, s, cfg)
			add(&bareCold, toolRun{wall: d})
			add(&bareWarm, toolRun{wall: bareFleetRun(b, clients)})
			for _, c := range clients {
				c.Close()
			}

			// Gaffer with the server's default concurrency (20): a
			// server just started, its connection pool empty (cold),
			// then the same command again (warm: pooled connections);
			// then --concurrency 40 on the warm server.
			srv := startServer(b, bin, inv, s.KnownHosts)
			add(&gCold, runGaffer(b, bin, srv, gafferArgs(srv), fleetHosts))
			add(&gWarm, runGaffer(b, bin, srv, gafferArgs(srv), fleetHosts))
			add(&g40Warm, runGaffer(b, bin, srv, gafferArgs(srv, "--concurrency", "40"), fleetHosts))
			srv.stop()
			// --concurrency 40 on a fresh server (cold).
			srv = startServer(b, bin, inv, s.KnownHosts)
			add(&g40Cold, runGaffer(b, bin, srv, gafferArgs(srv, "--concurrency", "40"), fleetHosts))
			srv.stop()

			// parallel-ssh: a new ssh process and connection per host.
			add(&pssh, runTool(b, "parallel-ssh", psshPath, psshArgs, nil, fleetHosts, countPSSH))

			if !withAnsible {
				continue
			}
			// ansible: a fresh ControlPath directory (cold), then again
			// through the ControlPersist masters the first run left
			// (warm, ansible's default of 60 s), then those masters
			// ended.
			cp := filepath.Join(dir, fmt.Sprintf("cp-%d-%d", i, round))
			env := []string{"ANSIBLE_CONFIG=" + ansibleCfg, "ANSIBLE_SSH_CONTROL_PATH_DIR=" + cp,
				"ANSIBLE_LOCAL_TEMP=" + filepath.Join(dir, "ansible-tmp"), "ANSIBLE_HOST_KEY_CHECKING=True",
				"ANSIBLE_NOCOLOR=1", "ANSIBLE_DEPRECATION_WARNINGS=False"}
			add(&ansCold, runTool(b, "ansible", ansiblePath, ansibleArgs, env, fleetHosts, countAnsible))
			add(&ansWarm, runTool(b, "ansible", ansiblePath, ansibleArgs, env, fleetHosts, countAnsible))
			killByArg(cp)
		}
	}
	b.StopTimer()

	med := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	fig := func(name, metric string, s series, cpu bool) string {
		b.ReportMetric(ms(med(s.wall)), metric+"-ms")
		f := fmt.Sprintf("%s %.0f ms (%.0f–%.0f)", name, ms(med(s.wall)), ms(slices.Min(s.wall)), ms(slices.Max(s.wall)))
		if cpu {
			b.ReportMetric(ms(med(s.cpu)), metric+"-cpu-ms")
			f += fmt.Sprintf(" CPU %.0f ms", ms(med(s.cpu)))
		}
		return f
	}
	// Few lines: go test keeps only the first 10 of a benchmark's log
	// without -v.
	b.Logf("`%s` on %d hosts, ~/.bashrc `%s`, median of %d (min–max), process start to exit; CPU: user+sys of the tool and the children it waited for (gaffer: the CLI plus the server's)",
		fleetCommand, fleetHosts, fleetBashrc, len(gCold.wall))
	b.Logf("limit, 40 x/crypto/ssh sessions at once in-process: %s; %s",
		fig("new connections", "ssh-cold", bareCold, false), fig("open connections", "ssh-warm", bareWarm, false))
	b.Logf("gaffer run -l role=web: %s; %s; with --concurrency 40: %s; %s",
		fig("fresh server (cold)", "gaffer-cold", gCold, true), fig("warm", "gaffer-warm", gWarm, true),
		fig("cold", "gaffer-c40-cold", g40Cold, true), fig("warm", "gaffer-c40-warm", g40Warm, true))
	if !withAnsible {
		b.Logf("%s; ansible left out (-short)", fig("parallel-ssh -p 40:", "pssh", pssh, true))
		return
	}
	b.Logf("%s; ansible -f 40: %s; %s",
		fig("parallel-ssh -p 40:", "pssh", pssh, true),
		fig("fresh ControlPath (cold)", "ansible-cold", ansCold, true), fig("ControlPersist masters alive (warm)", "ansible-warm", ansWarm, true))
}

func writeFile(b *testing.B, dir, name string, fill func(*strings.Builder)) string {
	b.Helper()
	var w strings.Builder
	fill(&w)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(w.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// bareFleetDial dials every host at once and runs the command once on each
// (a new connection per host), checking its output; it returns the open
// clients and the time until the last command exited.
func bareFleetDial(b *testing.B, s *sshtest.Server, cfg *ssh.ClientConfig) ([]*ssh.Client, time.Duration) {
	b.Helper()
	clients := make([]*ssh.Client, len(s.Addrs))
	errs := make([]error, len(s.Addrs))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, addr := range s.Addrs {
		wg.Go(func() {
			c, err := ssh.Dial("tcp", addr, cfg)
			if err != nil {
				errs[i] = err
				return
			}
			clients[i] = c
			errs[i] = bareUname(c)
		})
	}
	wg.Wait()
	d := time.Since(t0)
	for i, err := range errs {
		if err != nil {
			b.Fatalf("bare ssh to %s: %v", s.Addrs[i], err)
		}
	}
	return clients, d
}

// bareFleetRun runs the command once more on each open client, all at once.
func bareFleetRun(b *testing.B, clients []*ssh.Client) time.Duration {
	b.Helper()
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, c := range clients {
		wg.Go(func() { errs[i] = bareUname(c) })
	}
	wg.Wait()
	d := time.Since(t0)
	if err := errorsJoin(errs); err != nil {
		b.Fatalf("bare ssh on open connections: %v", err)
	}
	return d
}

func bareUname(c *ssh.Client) error {
	sess, err := c.NewSession()
	if err != nil {
		return err
	}
	defer sess.Close()
	out, err := sess.Output(fleetCommand)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(out, []byte("Linux ")) {
		return fmt.Errorf("%s printed %q", fleetCommand, out)
	}
	return nil
}

func errorsJoin(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// runGaffer runs the gaffer CLI and checks that every host printed its
// `uname -a` line; it returns the wall time and the CPU time of the CLI
// plus that of the server meanwhile.
func runGaffer(b *testing.B, bin string, srv *server, args []string, hosts int) toolRun {
	b.Helper()
	cpu0 := procCPU(srv.PID)
	r := runTool(b, "gaffer", bin, args, nil, hosts, countGaffer)
	r.cpu += procCPU(srv.PID) - cpu0
	return r
}

// toolRun is one timed run: wall time, and client-side CPU time.
type toolRun struct{ wall, cpu time.Duration }

// runTool runs a command from process start to exit and checks with count
// that its output holds one `uname -a` line from each of the want hosts. It
// returns the wall time and the user+system CPU of the process and the
// children it waited for.
func runTool(b *testing.B, name, path string, args, env []string, want int, count func(stdout string) (hosts map[string]bool, lines int)) toolRun {
	b.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	err := cmd.Wait()
	wall := time.Since(t0)
	if err != nil {
		b.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, tail(stdout.String()), tail(stderr.String()))
	}
	hosts, lines := count(stdout.String())
	if len(hosts) != want || lines != want {
		b.Fatalf("%s: %d hosts succeeded with %d `%s` lines, want %d and %d\nstdout, without the output and success lines:\n%s\nstderr:\n%s",
			name, len(hosts), lines, fleetCommand, want, want, tail(unusual(stdout.String())), tail(stderr.String()))
	}
	return toolRun{wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
}

// unusual drops the lines of out that say one host succeeded or hold one
// `uname -a` output: what is left says what went wrong.
func unusual(out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		if !(strings.HasPrefix(line, "Linux ") && strings.Count(line, "Linux ") == 1) &&
			!(strings.HasPrefix(line, "[") && strings.Count(line, "[SUCCESS]") == 1) {
			b.WriteString(line)
		}
	}
	return b.String()
}

func tail(s string) string {
	if len(s) > 4000 {
		return "...\n" + s[len(s)-4000:]
	}
	return s
}

// countGaffer: "host-7  | Linux ..." per host on stdout.
func countGaffer(out string) (map[string]bool, int) {
	hosts, lines := map[string]bool{}, 0
	for line := range strings.Lines(out) {
		host, text, ok := strings.Cut(line, " | ")
		if ok && strings.HasPrefix(text, "Linux ") {
			hosts[strings.TrimSpace(host)] = true
			lines++
		}
	}
	return hosts, lines
}

var psshSuccess = regexp.MustCompile(`^\[\d+\] \S+ \[SUCCESS\] (\S+)`)

// countPSSH: "[3] 01:02:03 [SUCCESS] 127.0.0.4" then the output, per host.
// A host that did not end within parallel-ssh's timeout (60 s by default)
// is "[FAILURE] 127.0.0.4 Timed out", its output printed all the same.
func countPSSH(out string) (map[string]bool, int) {
	hosts, lines := map[string]bool{}, 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m := psshSuccess.FindStringSubmatch(sc.Text()); m != nil {
			hosts[m[1]] = true
		} else if strings.HasPrefix(sc.Text(), "Linux ") {
			lines++
		}
	}
	return hosts, lines
}

var ansibleChanged = regexp.MustCompile(`^(\S+) \| CHANGED \| rc=0 >>$`)

// countAnsible: "host-7 | CHANGED | rc=0 >>" then the output, per host.
func countAnsible(out string) (map[string]bool, int) {
	hosts, lines := map[string]bool{}, 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m := ansibleChanged.FindStringSubmatch(sc.Text()); m != nil {
			hosts[m[1]] = true
		} else if strings.HasPrefix(sc.Text(), "Linux ") {
			lines++
		}
	}
	return hosts, lines
}

// killByArg ends the processes this benchmark left behind whose command line
// holds dir (ansible's ssh ControlPersist masters, whose ControlPath is
// inside it), each by its pid.
func killByArg(dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(dir+"/")) {
			continue
		}
		syscall.Kill(pid, syscall.SIGTERM)
	}
}
