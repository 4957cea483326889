package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestGrafanaDashboardQueriesExist keeps deploy/grafana/qs-promoter.json
// true to the daemon: every metric it queries is registered, with every
// label it selects or groups by.
func TestGrafanaDashboardQueriesExist(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/qs-promoter.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID         int             `json:"id"`
			Type       string          `json:"type"`
			Title      string          `json:"title"`
			Datasource json.RawMessage `json:"datasource"`
			Targets    []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	if dash.UID == "" {
		t.Error("the dashboard has no uid")
	}
	metrics := registeredMetrics(newMetrics())
	ids := map[int]bool{}
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || len(p.Datasource) == 0 || len(p.Targets) == 0 {
			t.Errorf("panel %d %q lacks a title, a datasource or a query", p.ID, p.Title)
		}
		for _, tg := range p.Targets {
			for _, problem := range queryProblems(tg.Expr, metrics) {
				t.Errorf("panel %q: %s", p.Title, problem)
			}
			for _, m := range metricRE.FindAllString(tg.Expr, -1) {
				queried[baseMetric(m, metrics)] = true
			}
		}
	}
	// What the dashboard is for (the list).
	for _, m := range []string{"qsp_executions_total", "qsp_step_duration_seconds", "qsp_qrs_request_duration_seconds", "qsp_queue_depth",
		"qsp_site_up", "qsp_subscriptions_renewed_total", "qsp_policies_reloads_total", "qsp_policies_last_reload_successful"} {
		if !queried[m] {
			t.Errorf("the dashboard does not show %s", m)
		}
	}
}

// The check itself finds a metric or a label the daemon does not have.
func TestDashboardQueryCheckFindsMistakes(t *testing.T) {
	metrics := registeredMetrics(newMetrics())
	for expr, want := range map[string]string{
		`sum(rate(qsp_bytes_moved_total[5m]))`:                                "qsp_bytes_moved_total is not a metric of the daemon",
		`qsp_site_up{alias="dev"}`:                                            `qsp_site_up has no label "alias"`,
		`sum by (site) (qsp_executions_total)`:                                `groups by "site", which none of qsp_executions_total has`,
		`histogram_quantile(0.9, sum by (le) (rate(qsp_site_up_bucket[1m])))`: "qsp_site_up_bucket is not a metric of the daemon",
	} {
		got := strings.Join(queryProblems(expr, metrics), "; ")
		if !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", expr, got, want)
		}
	}
	if p := queryProblems(`histogram_quantile(0.95, sum by (le, site) (rate(qsp_qrs_request_duration_seconds_bucket{status!~"2.."}[5m])))`, metrics); len(p) > 0 {
		t.Errorf("a good query: %v", p)
	}
}

var (
	metricRE   = regexp.MustCompile(`\b(?:qsp|go|process)_[a-z0-9_]+\b`)
	selectorRE = regexp.MustCompile(`\b((?:qsp|go|process)_[a-z0-9_]+)\{([^}]*)\}`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	byRE       = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	descRE     = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
)

// metricSet is every metric the daemon's registry describes, with its
// labels, and which of them are histograms.
type metricSet struct {
	labels     map[string][]string
	histograms map[string]bool
}

func registeredMetrics(m *metrics) metricSet {
	describe := func(c prometheus.Collector) []*prometheus.Desc {
		ch := make(chan *prometheus.Desc)
		go func() { c.Describe(ch); close(ch) }()
		var out []*prometheus.Desc
		for d := range ch {
			out = append(out, d)
		}
		return out
	}
	name := func(d *prometheus.Desc) (string, []string) {
		sm := descRE.FindStringSubmatch(d.String())
		if sm == nil {
			return "", nil
		}
		var labels []string
		if sm[2] != "" {
			labels = strings.Split(sm[2], ",")
		}
		return sm[1], labels
	}
	set := metricSet{labels: map[string][]string{}, histograms: map[string]bool{}}
	for _, d := range describe(m.reg) {
		if n, labels := name(d); n != "" {
			set.labels[n] = labels
		}
	}
	// The Desc has no type: the histograms are named here (a query of a
	// new histogram's _bucket fails until it is added).
	for _, h := range []prometheus.Collector{m.execDuration, m.stepDuration, m.qrsLatency} {
		for _, d := range describe(h) {
			n, _ := name(d)
			set.histograms[n] = true
		}
	}
	return set
}

// baseMetric maps a histogram's series (_bucket, _sum, _count) to its
// name; "" when the daemon has no such metric.
func baseMetric(name string, metrics metricSet) string {
	if _, ok := metrics.labels[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && metrics.histograms[base] {
			return base
		}
	}
	return ""
}

func queryProblems(expr string, metrics metricSet) []string {
	var problems []string
	labelsOf := func(series string) []string {
		l := metrics.labels[baseMetric(series, metrics)]
		if strings.HasSuffix(series, "_bucket") {
			l = append(slices.Clip(l), "le")
		}
		return l
	}
	var used []string
	for _, m := range metricRE.FindAllString(expr, -1) {
		if baseMetric(m, metrics) == "" {
			problems = append(problems, fmt.Sprintf("%s is not a metric of the daemon (%s)", m, expr))
			continue
		}
		used = append(used, m)
	}
	for _, sel := range selectorRE.FindAllStringSubmatch(expr, -1) {
		if baseMetric(sel[1], metrics) == "" {
			continue
		}
		for _, lm := range matcherRE.FindAllStringSubmatch(sel[2], -1) {
			if !slices.Contains(labelsOf(sel[1]), lm[1]) {
				problems = append(problems, fmt.Sprintf("%s has no label %q (it has %v)", sel[1], lm[1], labelsOf(sel[1])))
			}
		}
	}
	for _, by := range byRE.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(by[1], ",") {
			l = strings.TrimSpace(l)
			found := false
			for _, m := range used {
				found = found || slices.Contains(labelsOf(m), l)
			}
			if l != "" && !found {
				sort.Strings(used)
				problems = append(problems, fmt.Sprintf("groups by %q, which none of %s has", l, strings.Join(used, ", ")))
			}
		}
	}
	return problems
}
