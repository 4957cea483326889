package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
)

// RulesStatus is the state of the policy rule set, for /status.
type RulesStatus struct {
	Revision    string    `json:"revision"` // of the rule set in use
	Files       []string  `json:"files"`
	Policies    int       `json:"policies"`
	OK          bool      `json:"last_reload_ok"`
	LastError   string    `json:"last_reload_error,omitempty"`
	LastAttempt time.Time `json:"last_reload_at"`
	LastSuccess time.Time `json:"last_success_at"`
}

// policyRules is the engine's Reloader plus what the daemon reports of it.
type policyRules struct {
	*engine.Reloader
	log *slog.Logger
}

func newPolicyRules(dir string, opts engine.LoadOptions, log *slog.Logger, onReload func(ok bool, at time.Time)) (*policyRules, error) {
	r, err := engine.NewReloader(dir, opts, log)
	if err != nil {
		return nil, err
	}
	r.OnReload(func(st engine.ReloadStatus) { onReload(st.OK, st.LastAttempt) })
	st := r.Status()
	onReload(true, st.LastAttempt)
	rs := r.Current()
	log.Info("policies loaded", "dir", dir, "revision", rs.Revision, "files", len(rs.Files), "policies", len(rs.Policies))
	return &policyRules{Reloader: r, log: log}, nil
}

// Status reports the rule set in use and the last reload.
func (p *policyRules) Status() RulesStatus {
	st := p.Reloader.Status()
	out := RulesStatus{Revision: st.Revision, OK: st.OK, LastError: st.LastError, LastAttempt: st.LastAttempt, LastSuccess: st.LastSuccess}
	if rs := p.Current(); rs != nil {
		out.Files, out.Policies = rs.Files, len(rs.Policies)
	}
	return out
}

// Watch reloads on changes of the policy folder until ctx ends.
func (p *policyRules) Watch(ctx context.Context) {
	if err := p.Reloader.Watch(ctx); err != nil {
		p.log.Warn("not watching the policy folder; reload with SIGHUP or POST /-/reload", "err", err)
	}
}
