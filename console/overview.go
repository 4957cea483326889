package console

import (
	"context"
	"net/http"
	"time"

	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/store"
)

// overview is the Overview page's data.
type overview struct {
	Status     daemon.Status
	Running    []running
	Days       dayChart
	Promotions promotionChart
	Problems   []string // what could not be read
}

// running is an execution running now, with its latest progress when it
// runs in this process.
type running struct {
	store.Execution
	Progress []daemon.Progress
}

const chartDays = 30

// showOverview is the Overview (GET /): the sites, subscriptions and
// catch-up, readiness, the policies, the queue, what runs now, and the
// last 30 days in two charts.
func (c *Console) showOverview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ov := overview{Status: c.b.StatusContext(ctx)}
	var err error
	if ov.Running, err = c.running(ctx); err != nil {
		ov.Problems = append(ov.Problems, err.Error())
	}
	now := c.now()
	since := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(chartDays - 1))
	counts, err := c.b.ExecutionsPerDay(ctx, since)
	if err != nil {
		ov.Problems = append(ov.Problems, err.Error())
	}
	ov.Days = newDayChart(counts, now, chartDays)
	steps, err := c.b.AuditRecords(ctx, store.AuditQuery{Type: "step", Action: "promote", Since: since, Limit: 500})
	if err != nil {
		ov.Problems = append(ov.Problems, err.Error())
	}
	ov.Promotions = newPromotionChart(steps.Records)
	c.render(w, r, "overview", http.StatusOK, "Overview", ov)
}

// showRunning is the overview's live part (GET /overview/running, polled
// by htmx every few seconds).
func (c *Console) showRunning(w http.ResponseWriter, r *http.Request) {
	var ov overview
	var err error
	if ov.Running, err = c.running(r.Context()); err != nil {
		ov.Problems = append(ov.Problems, err.Error())
	}
	ov.Status.Queue = c.b.StatusContext(r.Context()).Queue
	c.renderPart(w, r, "overview", "running", ov)
}

// running lists the executions running now (a replica's own ones with
// their progress). TODO(retry): executions waiting to retry join them
// here once the store has that state.
func (c *Console) running(ctx context.Context) ([]running, error) {
	page, err := c.b.Executions(ctx, store.ExecutionQuery{State: "running", Limit: 20})
	if err != nil {
		return nil, err
	}
	out := make([]running, len(page.Executions))
	for i, e := range page.Executions {
		out[i] = running{Execution: e, Progress: c.b.Progress(e.ID)}
	}
	return out, nil
}
