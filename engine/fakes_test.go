package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// testSpecs stand in for package actions (which engine must not import).
var testSpecs = map[string]ActionSpec{
	"email": {Name: "email", Summary: "send an e-mail", Params: []Param{
		{Name: "to", Kind: KindStrings, Required: true, Doc: "recipients"},
		{Name: "subject", Kind: KindString, Required: true, Doc: "subject line"},
		{Name: "body", Kind: KindText, Doc: "plain text body"},
		{Name: "html", Kind: KindHTML, Doc: "HTML body"},
	}},
	"promote": {Name: "promote", Summary: "copy the app to target sites", Params: []Param{
		{Name: "targets", Kind: KindTargets, Required: true, Doc: "sites and modes"},
		{Name: "streams", Kind: KindStrings, Required: true, Doc: "target stream names"},
		{Name: "version", Kind: KindBool, Default: false, Doc: "upload a template to S3"},
	}},
	"tag": {Name: "tag", Summary: "add or remove a tag", Params: []Param{
		{Name: "name", Kind: KindString, Required: true, Doc: "the tag"},
		{Name: "remove", Kind: KindBool, Default: false, Doc: "remove instead of add"},
	}},
	"unpublish": {Name: "unpublish", Summary: "replace the published app by an unpublished copy", Destructive: true, Params: []Param{
		{Name: "retries", Kind: KindInt, Default: 3, Doc: "attempts"},
	}},
	"log": {Name: "log", Summary: "log a line", Params: []Param{
		{Name: "message", Kind: KindText, Required: true, Doc: "what to log"},
		{Name: "data", Kind: KindAny, Doc: "anything"},
	}},
}

var testOpts = LoadOptions{Specs: testSpecs, Sites: []string{"test", "prod"}}

// fakeAction records its calls and answers as told.
type fakeAction struct {
	spec  ActionSpec
	mu    sync.Mutex
	calls []string // "run <step key>" / "plan <step key>"
	fail  map[string]error
	vals  map[string]any
}

func (a *fakeAction) Spec() ActionSpec { return a.spec }

func (a *fakeAction) Plan(ctx context.Context, in *StepInput) (Result, error) {
	return a.do("plan", in)
}

func (a *fakeAction) Run(ctx context.Context, in *StepInput) (Result, error) {
	return a.do("run", in)
}

func (a *fakeAction) do(verb string, in *StepInput) (Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, verb+" "+in.StepKey)
	if err := a.fail[in.StepKey]; err != nil {
		return Result{}, err
	}
	keys := make([]string, 0, len(in.Params))
	for k := range in.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, in.Params[k]))
	}
	return Result{Summary: a.spec.Name + " " + strings.Join(parts, " "), Values: a.vals}, nil
}

func fakeActions() map[string]*fakeAction {
	out := map[string]*fakeAction{}
	for n, s := range testSpecs {
		out[n] = &fakeAction{spec: s, fail: map[string]error{}}
	}
	return out
}

func asActions(f map[string]*fakeAction) map[string]Action {
	out := map[string]Action{}
	for n, a := range f {
		out[n] = a
	}
	return out
}
