// Package actions holds the verbs of the policy language. Each action lives
// in one file and registers itself by its spec's name; adding an action
// touches that file and its entry in the README's actions reference only
// (a test holds the two together). An action is a spec and Run; it may also
// plan live (engine.Planner) and from the event's facts alone (offlinePlanner).
package actions

import (
	"fmt"
	"log/slog"
	"sort"

	"github.com/qs-promoter/qs-promoter/engine"
	"github.com/qs-promoter/qs-promoter/qrs"
)

// Deps is what actions need from the outside world. Any field may be nil
// (for `check`, only specs are needed); an action that needs a missing one
// fails its step with a message saying what to configure.
type Deps struct {
	Sites map[string]*qrs.Client // by alias; read-only clients in dry-runs
	Mail  *Mailer                // nil: e-mail not configured (NewMailer)
	S3    *S3Store               // nil: no bucket configured (NewS3Store)
	// S3Config is the configured bucket and prefix, for plans when S3 is
	// nil (a dry-run contacts no bucket): planned keys carry the prefix.
	S3Config *S3Config
	Log      *slog.Logger
	// Approvers maps a stream ID (lower case) to its approvers (e-mail
	// addresses and DIR\user accounts), as LoadApprovers reads them; nil:
	// no map configured.
	Approvers map[string][]string
	// Webhooks are the configured endpoints, in configuration order
	// (NewWebhook; WebhookForPlans in dry-runs).
	Webhooks []*Webhook
	// TempDir is where promote spools an export while it uploads it ("":
	// os.TempDir()). It needs room for the largest app once.
	TempDir string
	// Retry bounds the retries of transient QRS failures (zero: DefaultRetry).
	Retry Retry
	// Transfers bounds the uploads and exports at once per site and the
	// disk spools take, across all executions (NewTransfers); nil: no limits.
	Transfers *Transfers
	// Offline: plans from a recorded event: no site, mail server or bucket
	// is contacted or required; plans say what would be done in general
	// terms. Run refuses to run.
	Offline bool
}

type factory func(Deps) engine.Action

var registry = map[string]factory{}

// register adds an action under its spec's name; called from each action
// file's init.
func register(f factory) {
	name := f(Deps{}).Spec().Name
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("actions: %q registered twice", name))
	}
	registry[name] = f
}

// New builds every registered action with deps. Offline, each is wrapped
// so that Run refuses and Plan is its offline plan (see offline.go).
func New(deps Deps) map[string]engine.Action {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	out := make(map[string]engine.Action, len(registry))
	for name, f := range registry {
		a := f(deps)
		if deps.Offline {
			a = offline(a)
		}
		out[name] = a
	}
	return out
}

// Specs returns the spec of every registered action, by name.
func Specs() map[string]engine.ActionSpec {
	out := make(map[string]engine.ActionSpec, len(registry))
	for name, a := range New(Deps{}) {
		out[name] = a.Spec()
	}
	return out
}

// Names returns the registered action names, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
