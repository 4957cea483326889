package daemon

import (
	"context"
	"time"

	"github.com/qs-promoter/qs-promoter/store"
)

// Status is what GET /status answers.
type Status struct {
	StartedAt  time.Time         `json:"started_at"`
	Ready      bool              `json:"ready"`
	Problems   []string          `json:"problems,omitempty"`
	Sites      []SiteStatus      `json:"sites"`
	Policies   RulesStatus       `json:"policies"`
	Queue      map[string]int    `json:"queue"`
	Recent     []store.Execution `json:"recent_executions"`
	AuditError string            `json:"audit_error,omitempty"`
	// Waiting are the executions waiting for another attempt (after a
	// transient failure, or for a site to come back), soonest first.
	Waiting []store.WaitingExecution `json:"waiting_executions"`
}

// SiteStatus is one site in Status.
type SiteStatus struct {
	Alias         string    `json:"alias"`
	Host          string    `json:"host"`
	Watch         bool      `json:"watch"`
	Up            bool      `json:"up"`
	LastCheck     time.Time `json:"last_check,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	Subscriptions []string  `json:"subscriptions,omitempty"` // live handles
	SubscribedAt  time.Time `json:"subscribed_at,omitzero"`
	CatchupMark   string    `json:"catchup_mark,omitempty"` // newest app modifiedDate seen by catch-up
	LastCatchup   time.Time `json:"last_catchup,omitzero"`
	CatchupQueued int       `json:"last_catchup_queued"`
	CatchupError  string    `json:"last_catchup_error,omitempty"`
}

// Status reports the daemon's state.
func (d *Daemon) Status() Status { return d.StatusContext(context.Background()) }

// StatusContext is Status bounded by ctx.
func (d *Daemon) StatusContext(ctx context.Context) Status {
	st := Status{StartedAt: d.started, Policies: d.rules.Status()}
	st.Problems = d.readiness(ctx)
	st.Ready = len(st.Problems) == 0
	for _, s := range d.order {
		s.mu.Lock()
		ss := SiteStatus{Alias: s.alias, Host: s.host, Watch: s.watch, Up: s.up, LastCheck: s.lastCheck, LastError: s.lastErr,
			Subscriptions: append([]string(nil), s.handles...), SubscribedAt: s.subscribedAt, LastCatchup: s.lastCatchup,
			CatchupQueued: s.catchupQueued, CatchupError: s.catchupErr}
		s.mu.Unlock()
		if s.watch {
			ss.CatchupMark, _ = d.store.CatchupMark(ctx, s.alias)
		}
		st.Sites = append(st.Sites, ss)
	}
	st.Queue, _ = d.store.QueueDepth(ctx)
	st.Recent, _ = d.store.Recent(ctx, 20)
	st.Waiting, _ = d.store.WaitingExecutions(ctx, 100)
	if st.Waiting == nil {
		st.Waiting = []store.WaitingExecution{}
	}
	if err := d.audit.Err(); err != nil {
		st.AuditError = err.Error()
	}
	return st
}
