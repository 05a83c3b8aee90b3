package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gaffer-dev/gaffer"
	"github.com/gaffer-dev/gaffer/foreman"
	"github.com/gaffer-dev/gaffer/memory"
	"github.com/gaffer-dev/gaffer/sshexec"
	"github.com/gaffer-dev/gaffer/web"
)

// metricsHandler exposes the foreman's and web server's counters; they are
// read when scraped, so the hot path only bumps atomics.
func metricsHandler(f *foreman.Foreman, srv *web.Server, ssh *sshexec.Executor, live gaffer.LiveLog, ret *retention) http.Handler {
	st := f.Stats()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, v)
	}
	gauge := func(name, help string, v func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, v)
	}
	reg.MustRegister(
		counter("gaffer_jobs_started_total", "Jobs started.", func() float64 { return float64(st.JobsStarted.Load()) }),
		counter("gaffer_log_records_total", "Log records written.", func() float64 { return float64(st.Records.Load()) }),
		counter("gaffer_log_bytes_total", "Bytes of output written to logs.", func() float64 { return float64(st.Bytes.Load()) }),
		counter("gaffer_archive_errors_total", "Failed archive writes, and archived logs that differ from what a host sent.", func() float64 { return float64(st.ArchiveErrors.Load()) }),
		counter("gaffer_log_incomplete_total", "Jobs whose archived log is incomplete (writing it failed); they fail saying so.", func() float64 { return float64(st.LogsIncomplete.Load()) }),
		gauge("gaffer_jobs_running", "Jobs running now.", func() float64 { return float64(st.ActiveJobs.Load()) }),
		gauge("gaffer_runs_running", "Runs (job, host) executing now.", func() float64 { return float64(st.ActiveRuns.Load()) }),
		gauge("gaffer_log_streams", "Open log streams (SSE and NDJSON follow).", func() float64 { return float64(srv.OpenStreams()) }),
		gauge("gaffer_ssh_connections", "Open SSH connections, jump hosts included.", func() float64 { return float64(ssh.Stats().Conns) }),
		gauge("gaffer_ssh_sessions", "SSH sessions running commands.", func() float64 { return float64(ssh.Stats().Sessions) }),
		counter("gaffer_ssh_dials_total", "SSH connections dialed, failed ones included.", func() float64 { return float64(ssh.Stats().Dials) }),
		counter("gaffer_alerts_sent_total", "Alerts delivered to webhooks.", func() float64 { return float64(st.AlertsSent.Load()) }),
		counter("gaffer_alerts_dropped_total", "Alerts lost: a webhook's queue was full, the webhook refused them (4xx), or they were still undelivered when their job ended.", func() float64 { return float64(st.AlertsDropped.Load()) }),
		counter("gaffer_webhook_failures_total", "Failed webhook POSTs (each retry counts).", func() float64 { return float64(st.WebhookFailures.Load()) }),
		gauge("gaffer_alerts_pending", "Alerts queued or being retried for webhooks.", func() float64 { return float64(st.AlertsPending.Load()) }),
		gauge("gaffer_webhooks_failing", "Webhooks of running jobs whose last POST failed.", func() float64 { return float64(st.WebhooksFailing.Load()) }),
	)
	if lim := srv.Limiter; lim != nil {
		reg.MustRegister(
			counter("gaffer_auth_failures_total", "Failed token attempts (Bearer, login link or form).", func() float64 { return float64(lim.Stats().Failed) }),
			counter("gaffer_auth_limited_total", "Token attempts refused with 429: too many failures from the address.", func() float64 { return float64(lim.Stats().Refused) }),
			gauge("gaffer_auth_limiter_addresses", "Addresses the failed-attempt limiter remembers (bounded).", func() float64 { return float64(lim.Stats().Addrs) }),
		)
	}
	reg.MustRegister(counter("gaffer_jobs_deleted_total", "Finished jobs this server deleted, with their logs (--retain, --retain-jobs).", func() float64 {
		if ret == nil {
			return 0
		}
		return float64(ret.Deleted())
	}))
	if mem, ok := live.(*memory.LiveLog); ok {
		reg.MustRegister(
			gauge("gaffer_live_buffers", "Jobs with a live buffer in this server's memory.", func() float64 { n, _ := mem.Held(); return float64(n) }),
			gauge("gaffer_live_buffer_bytes", "Bytes the live buffers in this server's memory hold together (bounded by --live-budget).", func() float64 { _, b := mem.Held(); return float64(b) }),
		)
	}
	refused := func(name, help, reason string, v func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{"reason": reason}}, v)
	}
	reg.MustRegister(
		refused("gaffer_jobs_refused_total", "Job starts refused by a limit.", "max_running", func() float64 { return float64(st.JobsRefusedMaxRunning.Load()) }),
		refused("gaffer_log_streams_refused_total", "Log streams refused by a limit.", "max_streams", func() float64 { return float64(srv.StreamsRefused(web.RefusedMax)) }),
		refused("gaffer_log_streams_refused_total", "Log streams refused by a limit.", "per_user", func() float64 { return float64(srv.StreamsRefused(web.RefusedPerUser)) }),
	)
	for _, s := range []gaffer.Status{gaffer.StatusSucceeded, gaffer.StatusFailed, gaffer.StatusCanceled, gaffer.StatusTimedOut, gaffer.StatusInterrupted} {
		s := s
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gaffer_runs_finished_total", Help: "Runs finished, by status.",
			ConstLabels: prometheus.Labels{"status": string(s)},
		}, func() float64 { return float64(st.RunsFinishedBy()[s]) }))
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
