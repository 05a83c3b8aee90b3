package main

// The screenshot of the job page in the README (docs/job-page.png): a
// deploy on three hosts with colours, stderr, a failed run, timestamps, a
// search and a highlighted range. GAFFER_SCREENSHOT=1 writes the file;
// without it the test still makes the page and checks the picture.

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/internal/sshtest"
)

const deployScript = `set -- $SSH_CONNECTION; n=${3##*.}; n=$((n-1))
p() { printf "$@"; sleep 0.01; }
p '\033[1;36m==>\033[0m \033[1mdeploy\033[0m api \033[33mv2.14.3\033[0m to web-%s\n' $n
p '  \033[36m→\033[0m fetching artifact api-v2.14.3.tar.gz \033[2m(48.2 MiB)\033[0m\n'
p '  \033[32m✓\033[0m checksum sha256:9f2c51d0e41a ok\n'
p '  \033[36m→\033[0m unpacking into /srv/api/releases/20261201-1842\n'
p '  \033[36m→\033[0m running 3 migrations\n'
for m in 20261128_add_index_jobs_status 20261129_backfill_run_hosts 20261130_drop_legacy_tokens; do
  p '    \033[35m[migrate]\033[0m %s \033[2m...\033[0m \033[32mdone\033[0m (%sms)\n' $m $((n*97+211))
done
p 'warning: config key "cache.ttl" is deprecated; use "cache.max_age"\n' >&2
p '  \033[36m→\033[0m warming caches \033[32m[████████████████████]\033[0m 100%%\n'
i=0
while [ $i -lt 60 ]; do
  i=$((i+1)); code=200; col=32
  if [ $((i % 17)) = 0 ]; then code=404; col=33; fi
  if [ $((i % 29)) = 0 ]; then code=500; col=31; fi
  p '  \033[2m%s\033[0m GET /api/v1/jobs/%s \033[%sm%s\033[0m %sms\n' "$(date +%H:%M:%S)" $((4200+i*7)) $col $code $(( (i*37+n*11) % 90 + 2 ))
done
if [ $n = 3 ]; then
  p '\033[1;31m✗ health check failed:\033[0m dial tcp 10.0.3.%s:8080: connection refused\n' $n >&2
  exit 1
fi
p '  \033[32m✓\033[0m switched current \033[2m->\033[0m 20261201-1842\n'
p '\033[1;36m==>\033[0m \033[1mdone\033[0m in %s.%ss\n' $((n+4)) $((n*3))
`

func TestBrowserScreenshot(t *testing.T) {
	sshd := sshtest.Start(t, sshtest.Options{Hosts: 3})
	hosts := sshd.Hosts()
	for i := range hosts {
		hosts[i].Name = fmt.Sprintf("web-%d", i+1)
	}
	ts := startServer(t, "--inventory", writeInventory(t, hosts, ""), "--known-hosts", sshd.KnownHosts)
	job := ts.startJob(t, gaffer.JobRequest{Hosts: []string{"web-1", "web-2", "web-3"}, Command: deployScript})
	if final := ts.waitJob(t, job.ID); final.Status != gaffer.StatusFailed {
		t.Fatalf("the deploy ended %s, want failed (web-3 fails)", final.Status)
	}
	b := newBrowser(t)
	b.login(ts)
	v := b.newTab(t)
	v.do(chromedp.EmulateViewport(1440, 940), chromedp.Navigate(ts.URL+"/"))
	evalJS[bool](v, `(localStorage.setItem("gaffer.ts", "rel"), true)`)
	v.do(chromedp.Navigate(fmt.Sprintf("%s/jobs/%d#L14-L16", ts.URL, job.ID)))
	v.waitEnded()
	v.do(chromedp.SendKeys(chromedp.CSS("#search"), "migrat"))
	v.waitJS("the search", `gafferViewer.state().hitsDone && gafferViewer.state().hits > 0 && gafferViewer.state().settled`)
	evalJS[bool](v, `(location.hash = "#L14-L16", document.getElementById("search").blur(), true)`)
	v.waitJS("the page to settle", `gafferViewer.state().settled && document.querySelectorAll("#log .line.hl").length === 3`)
	shot, err := chromedp.Run(v.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() != 1440 || r.Dy() != 940 {
		t.Errorf("screenshot is %v", r)
	}
	if os.Getenv("GAFFER_SCREENSHOT") != "" {
		path := filepath.Join("..", "..", "docs", "job-page.png")
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(shot))
	}
	v.checkClean("screenshot")
}
