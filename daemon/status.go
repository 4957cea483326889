package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/qs-promoter/qs-promoter/store"
)

// Status is what GET /status answers.
type Status struct {
	StartedAt  time.Time         `json:"started_at"`
	Ready      bool              `json:"ready"`
	Problems   []string          `json:"problems,omitempty"`
	Store      string            `json:"store"`            // the database: sqlite or postgres
	Replica    string            `json:"replica"`          // this replica's ID
	Leader     string            `json:"leader,omitempty"` // the replica that leads ("" while none does)
	Replicas   []ReplicaStatus   `json:"replicas,omitempty"`
	Warnings   []string          `json:"warnings,omitempty"` // what an admin should look at, not keeping this replica from working
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

// ReplicaStatus is one replica sharing the database, in Status.
type ReplicaStatus struct {
	store.Replica
	Leader bool `json:"leader,omitempty"`
	This   bool `json:"this,omitempty"` // the replica answering
	// Alive: it marked itself alive within the leader lease's time.
	Alive bool `json:"alive"`
	// RevisionDiffers: it runs other policies than the leader (than this
	// replica while none leads): a policy folder not yet the same on every
	// machine.
	RevisionDiffers bool `json:"policy_revision_differs,omitempty"`
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
	st.Store, st.Replica = d.store.Driver(), d.replica
	d.replicasStatus(ctx, &st)
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

// replicasStatus lists the replicas sharing the database, which one leads,
// and flags those running other policies than the leader.
func (d *Daemon) replicasStatus(ctx context.Context, st *Status) {
	if l, held, err := d.store.LeaseHolder(ctx, leaderLease); err == nil && held {
		st.Leader = l.Holder
	}
	rs, err := d.store.Replicas(ctx)
	if err != nil {
		return
	}
	ref := st.Policies.Revision
	for _, r := range rs {
		if r.ID == st.Leader && r.Revision != "" {
			ref = r.Revision
		}
	}
	for _, r := range rs {
		rs := ReplicaStatus{Replica: r, Leader: r.ID == st.Leader, This: r.ID == d.replica, Alive: r.Silent < d.leaseTTL,
			RevisionDiffers: r.Revision != ref}
		st.Replicas = append(st.Replicas, rs)
		if rs.RevisionDiffers && rs.Alive {
			st.Warnings = append(st.Warnings, fmt.Sprintf("replica %s runs policy revision %s, the leader %s: make the policy folder the same on every replica", r.ID, r.Revision, ref))
		}
	}
}
