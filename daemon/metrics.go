package daemon

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/qs-promoter/qs-promoter/store"
)

// metrics are the daemon's Prometheus metrics, on a registry of its own so
// that several daemons can live in one test process.
type metrics struct {
	reg *prometheus.Registry

	received        *prometheus.CounterVec   // site
	coalesced       *prometheus.CounterVec   // site
	rejected        *prometheus.CounterVec   // site, reason
	executions      *prometheus.CounterVec   // outcome
	execDuration    prometheus.Histogram     //
	stepDuration    *prometheus.HistogramVec // action, status
	qrsLatency      *prometheus.HistogramVec // site, method, status
	reloadOK        prometheus.Gauge
	reloadTime      prometheus.Gauge
	reloads         *prometheus.CounterVec // result
	auditErrors     prometheus.Counter
	siteUp          *prometheus.GaugeVec   // site
	subscribes      *prometheus.CounterVec // site
	subscribeErrors *prometheus.CounterVec // site
	catchupQueued   *prometheus.CounterVec // site
	catchupErrors   *prometheus.CounterVec // site
	queueDepthFunc  func(ctx context.Context) (map[string]int, error)

	leader       prometheus.Gauge
	adminNotices *prometheus.CounterVec // result
	appBytes     *prometheus.CounterVec // site, direction
	waitingFunc  func(ctx context.Context, limit int) ([]store.WaitingExecution, error)
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.received = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_events_received_total",
		Help: "Change notifications accepted from QRS (and reconciled apps from catch-up), by site."}, []string{"site"})
	m.coalesced = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_events_coalesced_total",
		Help: "Notifications merged into an evaluation already waiting for the same app."}, []string{"site"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_events_rejected_total",
		Help: "Callbacks rejected, by reason (not_found, malformed, too_large, store)."}, []string{"site", "reason"})
	m.executions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_executions_total",
		Help: "Executions by outcome (acted, no_match, failed, skipped, error)."}, []string{"outcome"})
	m.execDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "qsp_execution_duration_seconds",
		Help: "Duration of executions, from claiming the notifications to the last step.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)})
	m.stepDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "qsp_step_duration_seconds",
		Help: "Duration of policy steps, by action and status.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}, []string{"action", "status"})
	m.qrsLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "qsp_qrs_request_duration_seconds",
		Help: "QRS request latency by site, method and HTTP status (0: no answer).", Buckets: prometheus.ExponentialBuckets(0.005, 3, 10)}, []string{"site", "method", "status"})
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "qsp_policies_last_reload_successful",
		Help: "1 when the last policy (re)load succeeded, 0 when it failed (the previous rule set keeps running)."})
	m.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: "qsp_policies_last_reload_timestamp_seconds",
		Help: "Unix time of the last policy (re)load attempt."})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_policies_reloads_total",
		Help: "Policy reloads by result (success, failure)."}, []string{"result"})
	m.auditErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "qsp_audit_write_errors_total",
		Help: "Audit records that could not be written (readiness fails while the last write failed)."})
	m.siteUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "qsp_site_up",
		Help: "1 when the site's last health check (/qrs/about) succeeded."}, []string{"site"})
	m.subscribes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_subscriptions_renewed_total",
		Help: "Times the daemon (re)subscribed to a site's changes."}, []string{"site"})
	m.subscribeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_subscription_errors_total",
		Help: "Renewals of a site's subscriptions that failed (it may not be notified until one succeeds)."}, []string{"site"})
	m.catchupQueued = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_catchup_apps_total",
		Help: "Apps found changed by catch-up and queued as reconciled events."}, []string{"site"})
	m.catchupErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_catchup_errors_total",
		Help: "Catch-up runs that failed."}, []string{"site"})
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts{Name: "qsp_leader",
		Help: "1 while this replica leads (holds the subscriptions, checks the sites, catches up), else 0."})
	m.appBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_app_bytes_total",
		Help: "Bytes of app files moved, by site and direction (download: exported from the site; upload: sent to it)."}, []string{"site", "direction"})
	f(m.appBytes)
	m.adminNotices = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qsp_admin_notices_total",
		Help: "E-mails to smtp.admin about executions that failed for good, by result (sent, failed)."}, []string{"result"})
	f(m.adminNotices)
	f(waitingCollector{m})
	for _, c := range []prometheus.Collector{m.received, m.coalesced, m.rejected, m.executions, m.execDuration, m.stepDuration,
		m.qrsLatency, m.reloadOK, m.reloadTime, m.reloads, m.auditErrors, m.siteUp, m.leader, m.subscribes, m.subscribeErrors, m.catchupQueued, m.catchupErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), queueCollector{m}} {
		f(c)
	}
	return m
}

// observeQRS is the qrs.SiteConfig.Observe hook.
func (m *metrics) observeQRS(site, method, route string, status int, d time.Duration) {
	m.qrsLatency.WithLabelValues(site, method, strconv.Itoa(status)).Observe(d.Seconds())
}

func (m *metrics) movedApp(site, direction string, n int) {
	m.appBytes.WithLabelValues(site, direction).Add(float64(n))
}

func (m *metrics) reloaded(ok bool, at time.Time) {
	if ok {
		m.reloadOK.Set(1)
		m.reloads.WithLabelValues("success").Inc()
	} else {
		m.reloadOK.Set(0)
		m.reloads.WithLabelValues("failure").Inc()
	}
	m.reloadTime.Set(float64(at.UnixNano()) / 1e9)
}

// queueCollector reads the queue depth from the store at scrape time.
type queueCollector struct{ m *metrics }

var queueDesc = prometheus.NewDesc("qsp_queue_depth", "Evaluations waiting or running, by queue state.", []string{"state"}, nil)

func (q queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDesc }

func (q queueCollector) Collect(ch chan<- prometheus.Metric) {
	if q.m.queueDepthFunc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	depth, err := q.m.queueDepthFunc(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDesc, err)
		return
	}
	for _, st := range []string{"available", "scheduled", "running", "retryable", "pending"} {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(depth[st]), st)
	}
}

// waitingCollector reads the executions waiting for another attempt from
// the store at scrape time.
type waitingCollector struct{ m *metrics }

var (
	waitingDesc = prometheus.NewDesc("qsp_executions_waiting",
		"Executions waiting for another attempt, by state: retrying (after a transient failure) or waiting (for a site that is down).", []string{"state"}, nil)
	nextAttemptDesc = prometheus.NewDesc("qsp_executions_next_attempt_timestamp_seconds",
		"Unix time of the soonest next attempt of a waiting execution, by state.", []string{"state"}, nil)
)

func (w waitingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- waitingDesc
	ch <- nextAttemptDesc
}

func (w waitingCollector) Collect(ch chan<- prometheus.Metric) {
	if w.m.waitingFunc == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	list, err := w.m.waitingFunc(ctx, 1000)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(waitingDesc, err)
		return
	}
	count := map[string]int{}
	soonest := map[string]time.Time{}
	for _, e := range list {
		count[e.State]++
		if t, ok := soonest[e.State]; !ok || e.NextAttempt.Before(t) {
			soonest[e.State] = e.NextAttempt
		}
	}
	for _, st := range []string{store.StateRetrying, store.StateWaiting} {
		ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, float64(count[st]), st)
		if t, ok := soonest[st]; ok {
			ch <- prometheus.MustNewConstMetric(nextAttemptDesc, prometheus.GaugeValue, float64(t.UnixNano())/1e9, st)
		}
	}
}
