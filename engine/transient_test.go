package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// classified is an error that says whether it is worth retrying, as
// qrs.Error and the actions' errors do.
type classified struct {
	msg       string
	transient bool
	wrapped   error
}

func (e *classified) Error() string   { return e.msg }
func (e *classified) Transient() bool { return e.transient }
func (e *classified) Unwrap() error   { return e.wrapped }

func TestIsTransient(t *testing.T) {
	blip := &classified{msg: "503", transient: true}
	refused := &classified{msg: "403"}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"an error that says nothing", errors.New("bad parameter"), false},
		{"transient", blip, true},
		{"permanent", refused, false},
		{"wrapped with %w", fmt.Errorf("replacing app: %w", blip), true},
		{"wrapped with %v loses it", fmt.Errorf("replacing app: %v", blip), false},
		{"joined: one site for good, one for a moment", errors.Join(refused, blip), true},
		{"joined: both for good", errors.Join(refused, errors.New("x")), false},
		{"two %w in one message", fmt.Errorf("site a: %w; site b: %w", refused, fmt.Errorf("x: %w", blip)), true},
		{"a wrapper overrules what it wraps", &classified{msg: "given up", wrapped: blip}, false},
		{"a retry error", &RetryError{Policy: "p", Step: "s", Err: refused}, true},
	} {
		if got := IsTransient(c.err); got != c.want {
			t.Errorf("%s: IsTransient(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

const onErrorContinue = `
policies:
  - name: p
    on: [updated]
    steps:
      - {id: mail, action: email, with: {to: [a@example.com], subject: approved}}
      - {id: promote, action: promote, with: {targets: [test - Overwrite], streams: [x]}, on_error: continue}
      - {id: results, action: log, with: {message: results}}
`

// A transient step failure ends an attempt that is not the last one with a
// *RetryError: the step is reported as retrying (not checkpointed), and the
// steps after it wait, on_error: continue or not. The next attempt resumes
// after the checkpointed steps and runs the failed step again.
func TestTransientStepFailureRetriesTheExecution(t *testing.T) {
	rs := mustLoad(t, onErrorContinue)
	fakes := fakeActions()
	fakes["promote"].fail["p/promote"] = fmt.Errorf("site test: %w", &classified{msg: "qrs test: 500", transient: true})
	cp := &memCheckpoints{saved: map[string]Result{}}
	var steps []StepReport
	opts := ExecOptions{Checkpoints: cp, RetryTransient: true, OnStep: func(sr StepReport) { steps = append(steps, sr) }}
	rep, err := rs.Execute(context.Background(), approvedFacts(), asActions(fakes), opts)
	var retry *RetryError
	if !errors.As(err, &retry) || retry.Policy != "p" || retry.Step != "promote" || !IsTransient(err) {
		t.Fatalf("err = %v, want a RetryError at p/promote", err)
	}
	if len(fakes["log"].calls) != 0 {
		t.Errorf("the step after the transient failure ran: %v", fakes["log"].calls)
	}
	if len(steps) != 2 || !steps[1].Retrying || steps[1].Result.Status != StatusRetrying || steps[1].Err != "site test: qrs test: 500" {
		t.Errorf("steps reported %+v", steps)
	}
	if ps := rep.Policies[0].Steps; len(ps) != 2 || !ps[1].Retrying {
		t.Errorf("report steps %+v", ps)
	}
	if _, ok := cp.saved["p/promote"]; ok || len(cp.saved) != 1 {
		t.Errorf("checkpoints %v, want only p/mail", cp.saved)
	}

	// The next attempt: the e-mail is not sent again, promote runs again.
	delete(fakes["promote"].fail, "p/promote")
	rep, err = rs.Execute(context.Background(), approvedFacts(), asActions(fakes), opts)
	if err != nil || rep.Failed() {
		t.Fatalf("second attempt: %v, failed %v", err, rep.Failed())
	}
	if len(fakes["email"].calls) != 1 || len(fakes["promote"].calls) != 2 || len(fakes["log"].calls) != 1 {
		t.Errorf("calls: email %v, promote %v, log %v", fakes["email"].calls, fakes["promote"].calls, fakes["log"].calls)
	}
	if s := rep.Policies[0].Steps[0]; !s.Resumed {
		t.Errorf("the e-mail step was not resumed from its checkpoint: %+v", s)
	}
}

// On the last attempt a transient failure is final: on_error: continue
// goes on to the next steps (the results e-mail reports the failure). A
// permanent failure is final on any attempt.
func TestOnErrorContinueAppliesToTheFinalFailureOnly(t *testing.T) {
	for _, c := range []struct {
		name      string
		transient bool
		retry     bool // RetryTransient: not the last attempt
	}{
		{"transient failure on the last attempt", true, false},
		{"permanent failure on an early attempt", false, true},
		{"permanent failure on the last attempt", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := mustLoad(t, onErrorContinue)
			fakes := fakeActions()
			fakes["promote"].fail["p/promote"] = &classified{msg: "site test failed", transient: c.transient}
			cp := &memCheckpoints{saved: map[string]Result{}}
			rep, err := rs.Execute(context.Background(), approvedFacts(), asActions(fakes), ExecOptions{Checkpoints: cp, RetryTransient: c.retry})
			if err != nil {
				t.Fatalf("err = %v, want the failure in the report", err)
			}
			s := rep.Policies[0].Steps
			if s[1].Result.Status != StatusFailed || s[1].Retrying || !rep.Failed() {
				t.Errorf("promote: %+v", s[1])
			}
			if len(fakes["log"].calls) != 1 || s[2].Err != "" {
				t.Errorf("on_error: continue did not go on to the results step: %v %+v", fakes["log"].calls, s[2])
			}
		})
	}
}

// A dry-run never asks for a retry, whatever the options say.
func TestDryRunNeverRetries(t *testing.T) {
	rs := mustLoad(t, onErrorContinue)
	fakes := fakeActions()
	fakes["promote"].fail["p/promote"] = &classified{msg: "500", transient: true}
	rep, err := rs.Execute(context.Background(), approvedFacts(), asActions(fakes), ExecOptions{DryRun: true, RetryTransient: true})
	if err != nil || !rep.Failed() {
		t.Fatalf("err %v, failed %v", err, rep.Failed())
	}
}
