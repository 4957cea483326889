package engine

import (
	"context"
	"fmt"
	"log/slog"
)

// Action is one verb of the policy language. Implementations live in package
// actions, one file each; the engine only sees this interface.
type Action interface {
	// Spec describes the action to the loader (its parameters) and the docs.
	Spec() ActionSpec
	// Run does the work. Running the same step again for the same execution
	// (same ExecutionID and StepKey) must change nothing the second time.
	Run(ctx context.Context, in *StepInput) (Result, error)
}

// Planner is an Action that can say what Run would do, without writing
// anything anywhere. Dry-run calls Plan; the sites it may read are
// read-only. An action that is no Planner is planned from its spec alone
// (PlanFromSpec).
type Planner interface {
	Plan(ctx context.Context, in *StepInput) (Result, error)
}

// PlanFromSpec is the plan of an action that cannot plan: it says which
// action would run, and no more.
func PlanFromSpec(s ActionSpec) Result {
	return Result{Status: StatusPlanned, Summary: fmt.Sprintf("would run %s: %s", s.Name, s.Summary)}
}

// ActionSpec declares an action: the one description the loader checks
// steps against (unknown, missing and mistyped parameters are load errors
// with their position), `check` reports from, and the README's actions
// reference is generated from and tested against.
type ActionSpec struct {
	Name        string
	Summary     string // one line for docs and `check`
	Destructive bool   // deletes or replaces something: never runs after a failed step
	Params      []Param
	// Example is one or more steps using the action, as a policy's steps:
	// list holds them (YAML); the docs show it and a test loads it.
	Example string
}

// Param declares one parameter of an action.
type Param struct {
	Name     string
	Kind     Kind
	Required bool
	Default  any    // used when the step does not give the parameter (nil: zero value)
	Doc      string // one line for the README reference (Markdown) and load errors
	// DefaultDoc says, for the docs, what applies when the step does not
	// give the parameter and Default is nil ("the app's name").
	DefaultDoc string
}

// Kind is the type of a parameter's value once resolved.
type Kind string

// The parameter kinds. String-like kinds accept templates ("... {{ expr }} ...");
// a value that is exactly one "{{ expr }}" yields the expression's own value,
// converted to the kind.
const (
	KindString  Kind = "string"  // one line of text (newlines in data are rejected)
	KindText    Kind = "text"    // free text (e-mail subjects and bodies, descriptions)
	KindHTML    Kind = "html"    // HTML: values interpolated into it are HTML-escaped
	KindBool    Kind = "bool"    // true/false
	KindInt     Kind = "int"     // whole number
	KindStrings Kind = "strings" // list of strings; a single string is a one-item list
	KindTargets Kind = "targets" // list of {site, mode}; strings like "test - Overwrite" are parsed
	KindAny     Kind = "any"     // any value, passed as is; the strings of a YAML mapping or list in it may be templates
)

// Target is one promotion target: a site alias and a mode.
type Target struct {
	Site string `expr:"site" json:"site" yaml:"site"`
	Mode string `expr:"mode" json:"mode" yaml:"mode"` // "overwrite" or "duplicate"
}

// The promotion modes.
const (
	ModeOverwrite = "overwrite"
	ModeDuplicate = "duplicate"
)

// Params holds a step's resolved parameter values, keyed by parameter name,
// each already converted to its declared Kind (string, bool, int, []string,
// []Target, or any). Defaults are filled in.
type Params map[string]any

// String returns a string-like parameter ("" when absent).
func (p Params) String(name string) string { s, _ := p[name].(string); return s }

// Bool returns a bool parameter.
func (p Params) Bool(name string) bool { b, _ := p[name].(bool); return b }

// Int returns an int parameter.
func (p Params) Int(name string) int { i, _ := p[name].(int); return i }

// Strings returns a list-of-strings parameter.
func (p Params) Strings(name string) []string { s, _ := p[name].([]string); return s }

// Targets returns a targets parameter.
func (p Params) Targets(name string) []Target { t, _ := p[name].([]Target); return t }

// Status is how a step ended.
type Status string

// The step statuses.
const (
	StatusDone    Status = "done"    // Run did its work
	StatusSkipped Status = "skipped" // nothing to do (e.g. the owner has no e-mail address)
	StatusPlanned Status = "planned" // Plan: what Run would do
	StatusFailed  Status = "failed"  // Run returned an error
)

// Result is what a step produced. Later steps read Values as
// steps.<step id>.<key>; Summary is one line for logs, audit and dry-run
// ("would replace app 1a2b… in stream Everyone on site test").
type Result struct {
	Status  Status         `json:"status"`
	Summary string         `json:"summary"`
	Details []string       `json:"details,omitempty"` // further lines (one per app moved, per e-mail sent)
	Values  map[string]any `json:"values,omitempty"`
	// Preview is what a plan shows of what Run would produce, for an admin
	// to read before it goes live (a rendered e-mail, a description's
	// text); dry-run prints it. Plans only: it is never checkpointed.
	Preview []PreviewField `json:"-"`
}

// PreviewField is one named part of a Preview ("subject", "body", "to").
// Its Value is a string or a []string.
type PreviewField struct {
	Name  string
	Value any
}

// Journal is durable scratch space for one step of one execution. An action
// records sub-progress in it (e.g. "uploaded to site test as app X") so that
// a retry after a crash resumes instead of redoing. It is nil in dry-runs.
type Journal interface {
	Get(key string) (value string, ok bool)
	Put(key, value string) error
}

// StepInput is everything a step's Plan or Run gets.
type StepInput struct {
	ExecutionID string // unique per execution; stable across its retries
	StepKey     string // unique per step within the rule set: "<policy>/<step id>"
	Policy      string
	Facts       *Facts
	Params      Params
	Results     map[string]Result // earlier steps of this policy, by step id
	Journal     Journal
	Log         *slog.Logger
	// Progress reports long work (bytes moved); may be nil.
	Progress func(format string, args ...any)
}

// Progressf reports progress if a reporter is set.
func (in *StepInput) Progressf(format string, args ...any) {
	if in.Progress != nil {
		in.Progress(format, args...)
	}
}

// ParseMode normalises a promotion mode ("Overwrite", " duplicate ").
func ParseMode(s string) (string, error) {
	switch m := normalise(s); m {
	case ModeOverwrite, ModeDuplicate:
		return m, nil
	}
	return "", fmt.Errorf("mode %q is neither Overwrite nor Duplicate", s)
}
