package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/qs-promoter/qs-promoter/actions"
	"github.com/qs-promoter/qs-promoter/store"
)

// A final failure is never silent. The policy's own steps tell the owner
// (a results e-mail after on_error: continue); the daemon itself tells the
// admin, whatever the policy: an ERROR log line always, and an e-mail to
// smtp.admin when it is set.

// stepFailure is one failure of an execution: a step's, a policy's vars',
// or the execution's own (the facts could not be read).
type stepFailure struct {
	Policy, Step, Action, Err string
}

func (f stepFailure) where() string {
	switch {
	case f.Step != "":
		return f.Policy + "/" + f.Step
	case f.Policy != "":
		return f.Policy
	}
	return "the execution"
}

// failuresOf lists what failed in an attempt, in policy and step order.
func failuresOf(rep ExecutionReport) []stepFailure {
	var out []stepFailure
	if r := rep.Report; r != nil {
		for _, p := range r.Policies {
			if p.Err != "" {
				out = append(out, stepFailure{Policy: p.Name, Err: p.Err})
			}
			for _, s := range p.Steps {
				if s.Err != "" && !s.NotRun {
					out = append(out, stepFailure{Policy: p.Name, Step: s.ID, Action: s.Action, Err: s.Err})
				}
			}
		}
	}
	if len(out) == 0 {
		out = append(out, stepFailure{Err: rep.Reason})
	}
	return out
}

// adminMailTimeout bounds the sending of one failure notice.
const adminMailTimeout = 30 * time.Second

// tellAdmin reports an execution that failed for good: in the log, and by
// e-mail to smtp.admin.
func (d *Daemon) tellAdmin(ctx context.Context, job store.Job, rep ExecutionReport, log *slog.Logger) {
	fails := failuresOf(rep)
	first := fails[0]
	log.Error("execution failed for good; `qs-promoter retry "+rep.ExecutionID+"` runs it again once the cause is fixed",
		"app_name", rep.AppName, "policy", first.Policy, "step", first.Step, "err", first.Err, "failures", len(fails))
	if d.mail == nil || len(d.cfg.SMTP.Admin) == 0 {
		return
	}
	msg := actions.Message{To: d.cfg.SMTP.Admin, Subject: adminSubject(rep, fails), Text: d.adminBody(job, rep, fails)}
	ctx, cancel := context.WithTimeout(ctx, adminMailTimeout)
	defer cancel()
	if err := d.mail.Send(ctx, msg); err != nil {
		d.metrics.adminNotices.WithLabelValues("failed").Inc()
		log.Error("could not e-mail the admin about the failed execution (this log line is the notice)", "to", d.cfg.SMTP.Admin, "err", err)
		return
	}
	d.metrics.adminNotices.WithLabelValues("sent").Inc()
	log.Info("the admin was e-mailed about the failed execution", "to", d.cfg.SMTP.Admin)
}

func adminSubject(rep ExecutionReport, fails []stepFailure) string {
	name := rep.AppName
	if name == "" {
		name = rep.AppID
	}
	s := fmt.Sprintf("qs-promoter: '%s' failed at %s", name, fails[0].where())
	if len(fails) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(fails)-1)
	}
	return s
}

func (d *Daemon) adminBody(job store.Job, rep ExecutionReport, fails []stepFailure) string {
	var b strings.Builder
	b.WriteString("An execution of qs-promoter failed for good; it is not tried again unless you ask.\n\n")
	fmt.Fprintf(&b, "App:        '%s' (%s) on site %s\n", rep.AppName, rep.AppID, rep.Site)
	if len(rep.Kinds) > 0 {
		fmt.Fprintf(&b, "Event:      %s\n", strings.Join(rep.Kinds, ", "))
	}
	fmt.Fprintf(&b, "Execution:  %s (attempt %d of %d, first queued %s)\n", rep.ExecutionID, rep.Attempt, job.MaxAttempts,
		job.CreatedAt.UTC().Format(time.RFC3339))
	b.WriteString("\nWhat failed:\n")
	for _, f := range fails {
		switch {
		case f.Step != "":
			fmt.Fprintf(&b, "- policy %s, step %s (%s):\n    %s\n", f.Policy, f.Step, f.Action, f.Err)
		case f.Policy != "":
			fmt.Fprintf(&b, "- policy %s:\n    %s\n", f.Policy, f.Err)
		default:
			fmt.Fprintf(&b, "- %s\n", f.Err)
		}
	}
	if rep.Reason != "" && rep.Report != nil {
		fmt.Fprintf(&b, "\nWhy it stopped: %s\n", rep.Reason)
	}
	b.WriteString("\nThe policy's own e-mails (a results e-mail to the app's owner) went out as the policy says.\n")
	b.WriteString("Once the cause is fixed, run the execution again; the steps that finished are not run again:\n\n")
	cfg := ""
	if d.cfg.Path != "" {
		cfg = " --config " + d.cfg.Path
	}
	fmt.Fprintf(&b, "    qs-promoter retry%s %s\n\n", cfg, rep.ExecutionID)
	b.WriteString("The audit log (execution_id " + rep.ExecutionID + ") and GET /status have the details")
	if rep.EventFile != "" {
		b.WriteString("; the event evaluated is in " + rep.EventFile)
	}
	b.WriteString(".\n")
	return b.String()
}
