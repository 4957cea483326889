package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"
)

// StatusNotRun marks a step that did not run because an earlier one failed.
const StatusNotRun Status = "not_run"

// StatusRetrying marks a step that failed transiently while the execution
// will be tried again (ExecOptions.RetryTransient): its failure is not
// final, and no step after it ran in this attempt.
const StatusRetrying Status = "retrying"

// Checkpoints is the durable record of one execution's finished steps, so
// that a resumed execution reuses their results instead of running them
// again. Keys are "<policy>/<step id>".
type Checkpoints interface {
	Load(stepKey string) (Result, bool)
	Save(stepKey string, r Result) error
	Journal(stepKey string) Journal
}

// ExecOptions tunes one Execute.
type ExecOptions struct {
	ExecutionID string
	DryRun      bool        // plan every step (Planner, else PlanFromSpec), never Run
	Checkpoints Checkpoints // nil: none
	Log         *slog.Logger
	OnStep      func(StepReport)                              // after every step, e.g. for the audit log
	Progress    func(step string, format string, args ...any) // long work inside a step
	// RetryTransient says that another attempt of this execution will
	// follow if this one asks for it: a step that fails transiently
	// (IsTransient) then ends the execution with a *RetryError instead of
	// failing for good, and on_error: continue does not apply to it yet.
	// False on the last attempt, in dry-runs and in policy tests: every
	// failure is final.
	RetryTransient bool
}

// Report is what an execution did, for the audit log and dry-run output.
type Report struct {
	ExecutionID string         `json:"execution_id,omitempty"`
	Revision    string         `json:"revision"`
	DryRun      bool           `json:"dry_run,omitempty"`
	Policies    []PolicyReport `json:"policies"`
}

// PolicyReport is one policy's part of a Report.
type PolicyReport struct {
	Name    string         `json:"name"`
	File    string         `json:"file"`
	Matched bool           `json:"matched"`
	Reason  string         `json:"reason"`
	Err     string         `json:"error,omitempty"` // the when or a var failed
	Vars    map[string]any `json:"vars,omitempty"`
	Steps   []StepReport   `json:"actions"` // the planned or run steps, in order ([] when none)
}

// StepReport is one step's part of a Report. Params are as the action got
// them, defaults included; Defaulted names those the step does not give,
// so that a report can show them apart from what the admin wrote.
type StepReport struct {
	Policy    string        `json:"policy"`
	ID        string        `json:"id"`
	Action    string        `json:"action"`
	Params    Params        `json:"params"` // {} when none (or not resolved: the if was false)
	Defaulted []string      `json:"defaulted,omitempty"`
	Result    Result        `json:"result"`
	Err       string        `json:"error,omitempty"`
	Skipped   bool          `json:"skipped,omitempty"`  // its if was false
	NotRun    bool          `json:"not_run,omitempty"`  // an earlier step failed
	Resumed   bool          `json:"resumed,omitempty"`  // result reused from a checkpoint
	Retrying  bool          `json:"retrying,omitempty"` // failed transiently: the execution is tried again later
	Duration  time.Duration `json:"duration_ns"`
}

// SplitParams parts the step's params into those the policy gives and the
// defaults filled in, so that a report never shows a default as if the
// admin wrote it (defaults is nil when there is none).
func (s StepReport) SplitParams() (given, defaults map[string]any) {
	given = map[string]any{}
	for n, v := range s.Params {
		if slices.Contains(s.Defaulted, n) {
			if defaults == nil {
				defaults = map[string]any{}
			}
			defaults[n] = v
			continue
		}
		given[n] = v
	}
	return given, defaults
}

// Failed reports whether any policy or step failed.
func (r *Report) Failed() bool {
	for _, p := range r.Policies {
		if p.Err != "" {
			return true
		}
		for _, s := range p.Steps {
			if s.Err != "" && !s.NotRun {
				return true
			}
		}
	}
	return false
}

// Execute evaluates the policies against f and runs the steps of every
// matched one, in order. Step failures are in the report; the error is for
// what should make the caller retry the whole execution (a cancelled
// context, a checkpoint that could not be saved, and with RetryTransient a
// step that failed transiently: a *RetryError).
func (rs *Ruleset) Execute(ctx context.Context, f *Facts, acts map[string]Action, opts ExecOptions) (*Report, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rep := &Report{ExecutionID: opts.ExecutionID, Revision: rs.Revision, DryRun: opts.DryRun}
	matches := rs.Evaluate(f)
	for _, m := range matches {
		pr := PolicyReport{Name: m.Policy.Name, File: m.Policy.File, Matched: m.Matched, Reason: m.Reason, Err: m.Err, Steps: []StepReport{}}
		if m.Matched {
			if err := rs.runPolicy(ctx, m.Policy, f, acts, opts, log, &pr); err != nil {
				rep.Policies = append(rep.Policies, pr)
				return rep, err
			}
		}
		rep.Policies = append(rep.Policies, pr)
	}
	return rep, nil
}

func (rs *Ruleset) runPolicy(ctx context.Context, p *Policy, f *Facts, acts map[string]Action, opts ExecOptions, log *slog.Logger, pr *PolicyReport) error {
	log = log.With("policy", p.Name)
	r := rs.shape.newRunEnv(f)
	var machine vm.VM
	for _, v := range p.vars {
		out, err := machine.Run(v.prog, v.scope.value(r))
		if err != nil {
			pr.Err = fmt.Sprintf("var %s: %v", v.name, runError(err))
			log.Error("var failed", "var", v.name, "err", err)
			return nil
		}
		r.vars[v.name] = out
	}
	if len(r.vars) > 0 {
		pr.Vars = r.vars
	}
	results := map[string]Result{}
	failed := "" // the first failed step
	stopped := false
	var retry *RetryError // the step failed transiently: report it, then end the attempt
	for _, s := range p.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		sr := StepReport{Policy: p.Name, ID: s.ID, Action: s.Action, Params: Params{}}
		key := p.Name + "/" + s.ID
		start := time.Now()
		switch {
		case stopped:
			sr.NotRun = true
			sr.Err = fmt.Sprintf("not run: step %s failed", failed)
		case failed != "" && s.spec.Destructive:
			sr.NotRun = true
			sr.Err = fmt.Sprintf("not run: step %s failed, and %s never runs after a failure", failed, s.Action)
		default:
			if err := rs.runStep(ctx, s, key, r, acts, results, opts, &sr); err != nil {
				if !errors.As(err, &retry) {
					return err
				}
			}
		}
		if sr.NotRun {
			sr.Result = Result{Status: StatusNotRun, Summary: sr.Err}
		}
		sr.Duration = time.Since(start)
		results[s.ID] = sr.Result
		r.steps[s.ID] = stepValues(sr.Result)
		if sr.Err != "" && !sr.NotRun && failed == "" {
			failed = s.ID
		}
		if sr.Err != "" && !sr.NotRun && !s.Continue {
			stopped = true
		}
		attrs := []any{"step", s.ID, "action", s.Action, "status", sr.Result.Status, "duration", sr.Duration}
		if sr.Err != "" {
			log.Warn("step", append(attrs, "err", sr.Err)...)
		} else {
			log.Info("step", append(attrs, "summary", sr.Result.Summary)...)
		}
		pr.Steps = append(pr.Steps, sr)
		if opts.OnStep != nil {
			opts.OnStep(sr)
		}
		if retry != nil {
			return retry
		}
	}
	return nil
}

// runStep runs one step that is allowed to run. Its outcome is in sr; the
// error is only for failures that must abort the whole execution.
func (rs *Ruleset) runStep(ctx context.Context, s *Step, key string, r *runEnv, acts map[string]Action, results map[string]Result, opts ExecOptions, sr *StepReport) error {
	if opts.Checkpoints != nil && !opts.DryRun {
		if res, ok := opts.Checkpoints.Load(key); ok {
			sr.Result, sr.Resumed = res, true
			return nil
		}
	}
	env := s.scope.value(r)
	if s.ifProg != nil {
		out, err := vm.Run(s.ifProg, env)
		if err != nil {
			sr.Err = fmt.Sprintf("if %s: %v", oneLine(s.If), runError(err))
			sr.Result = Result{Status: StatusFailed, Summary: sr.Err}
			return nil
		}
		if ok, _ := out.(bool); !ok {
			sr.Skipped = true
			sr.Result = Result{Status: StatusSkipped, Summary: "if is false: " + oneLine(s.If)}
			return nil
		}
	}
	params, defaulted, err := s.resolve(env, rs.shape.sites)
	sr.Params, sr.Defaulted = params, defaulted
	if err != nil {
		sr.Err = err.Error()
		sr.Result = Result{Status: StatusFailed, Summary: sr.Err}
		return nil
	}
	act, ok := acts[s.Action]
	if !ok {
		sr.Err = fmt.Sprintf("action %s is not available", s.Action)
		sr.Result = Result{Status: StatusFailed, Summary: sr.Err}
		return nil
	}
	prior := make(map[string]Result, len(results))
	for k, v := range results {
		prior[k] = v
	}
	in := &StepInput{ExecutionID: opts.ExecutionID, StepKey: key, Policy: key[:len(key)-len(s.ID)-1], Facts: r.facts,
		Params: params, Results: prior, Log: opts.Log}
	if in.Log == nil {
		in.Log = slog.New(slog.DiscardHandler)
	}
	in.Log = in.Log.With("step", key)
	if opts.Progress != nil {
		in.Progress = func(format string, args ...any) { opts.Progress(key, format, args...) }
	}
	var res Result
	if opts.DryRun {
		if p, ok := act.(Planner); ok {
			res, err = p.Plan(ctx, in)
		} else {
			res = PlanFromSpec(act.Spec())
		}
		if err == nil && res.Status == "" {
			res.Status = StatusPlanned
		}
	} else {
		if opts.Checkpoints != nil {
			in.Journal = opts.Checkpoints.Journal(key)
		}
		res, err = act.Run(ctx, in)
		if err == nil && res.Status == "" {
			res.Status = StatusDone
		}
	}
	if err == nil && res.Status == StatusFailed {
		// A failure is a failure however it is reported: it must stop the
		// later steps (and any destructive one), and never be checkpointed.
		err = errors.New(cmp.Or(res.Summary, s.Action+" failed"))
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return err
		}
		res.Status = StatusFailed
		if res.Summary == "" {
			res.Summary = err.Error()
		}
		sr.Err = err.Error()
		if opts.RetryTransient && !opts.DryRun && IsTransient(err) {
			// Not final: the next attempt resumes here. The later steps
			// (a results e-mail above all) wait for the final outcome.
			res.Status, sr.Retrying = StatusRetrying, true
			sr.Result = res
			return &RetryError{Policy: in.Policy, Step: s.ID, Err: err}
		}
		sr.Result = res
		return nil
	}
	sr.Result = res
	if opts.Checkpoints != nil && !opts.DryRun {
		if err := opts.Checkpoints.Save(key, res); err != nil {
			return fmt.Errorf("saving the checkpoint of step %s: %w", key, err)
		}
	}
	return nil
}

// stepValues is what later steps see as steps.<id>.
func stepValues(r Result) map[string]any {
	m := make(map[string]any, len(r.Values)+3)
	for k, v := range r.Values {
		m[k] = v
	}
	m["status"] = string(r.Status)
	m["summary"] = r.Summary
	details := r.Details
	if details == nil {
		details = []string{}
	}
	m["details"] = details
	return m
}
