package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/qs-promoter/qs-promoter/engine"
)

func init() { register(func(d Deps) engine.Action { return &webhook{d: d} }) }

var (
	_ engine.Action  = (*webhook)(nil)
	_ engine.Planner = (*webhook)(nil)
	_ offlinePlanner = (*webhook)(nil)
)

// webhook posts a message to configured endpoints (Deps.Webhooks): a Teams
// channel, a Slack channel, any HTTP endpoint.
type webhook struct{ d Deps }

func (a *webhook) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:    "webhook",
		Summary: "Post a message to chat (Teams, Slack) or any HTTP endpoint named under `webhooks:` (built-in messages: approved, denied, published-alert, results).",
		Params: append([]engine.Param{
			{Name: "to", Kind: engine.KindStrings, DefaultDoc: "every configured webhook", Doc: "the webhooks to post to, by their `name` under `webhooks:`"},
			{Name: "template", Kind: engine.KindString, Doc: "built-in message: `approved`, `denied`, `published-alert`, `results`"},
			{Name: "title", Kind: engine.KindString, DefaultDoc: "the template's", Doc: "the message's title (one line)"},
			{Name: "text", Kind: engine.KindText, DefaultDoc: "the template's", Doc: "the message's text"},
			{Name: "body", Kind: engine.KindAny, Doc: "the whole JSON payload instead of a message, written in YAML (its strings may hold `{{ }}`), posted as is to every format"},
		}, templateDataParams...),
		Example: `- id: approved-chat
  action: webhook
  if: len(config.webhooks) > 0
  with:
    template: approved
- id: live-chat
  action: webhook
  with:
    to: [chat]
    title: "'{{ app.name }}' is live on test"
    text: "Promoted by {{ prop(app.set_by, 'PromotionApproval') }}: {{ steps.promote.summary }}"
- id: relay
  action: webhook
  with:
    to: [ops-relay]
    body:
      event: promoted
      app: "{{ app.name }}"
      targets: "{{ sites(targets(app.properties.PromoteToServer)) }}"
`,
	}
}

// message builds the message from the template and the parameters.
func (a *webhook) message(in *engine.StepInput) (chatMessage, error) {
	p := in.Params
	var m chatMessage
	if name := p.String("template"); name != "" {
		build, ok := chatTemplates[name]
		if !ok {
			return m, fmt.Errorf("template %s is not one of approved, denied, published-alert, results", q(name))
		}
		data, err := templateData(a.d, in)
		if err != nil {
			return m, err
		}
		m = build(data)
	}
	if t := p.String("title"); t != "" {
		m.Title = t
	}
	if t := p.String("text"); t != "" {
		m.Text = t
	}
	if m.Title == "" && m.Text == "" && p["body"] == nil {
		return m, errors.New("no content: give template, title or text, or body")
	}
	return m, nil
}

// endpoints are the webhooks the step posts to.
func (a *webhook) endpoints(in *engine.StepInput) ([]*Webhook, error) {
	names := in.Params.Strings("to")
	if len(names) == 0 {
		return a.d.Webhooks, nil
	}
	var out []*Webhook
	for _, n := range names {
		i := slices.IndexFunc(a.d.Webhooks, func(w *Webhook) bool { return strings.EqualFold(w.Name(), n) })
		if i < 0 {
			known := make([]string, len(a.d.Webhooks))
			for j, w := range a.d.Webhooks {
				known[j] = w.Name()
			}
			if len(known) == 0 {
				return nil, fmt.Errorf("no webhook is named %s: webhooks are not configured (add webhooks: with name, url_env and format to the configuration)", q(n))
			}
			return nil, fmt.Errorf("no webhook is named %s (the configured ones: %s)", q(n), strings.Join(known, ", "))
		}
		if !slices.Contains(out, a.d.Webhooks[i]) {
			out = append(out, a.d.Webhooks[i])
		}
	}
	return out, nil
}

// payload renders the message (or the body) for a format.
func (a *webhook) payload(in *engine.StepInput, format string, m chatMessage) ([]byte, error) {
	extra := map[string]any{
		"template": in.Params.String("template"),
		"policy":   in.Policy,
		"site":     in.Facts.Event.Site,
		"app": map[string]any{"id": in.Facts.App.ID, "name": in.Facts.App.Name, "stream": in.Facts.App.Stream.Name,
			"owner": in.Facts.App.Owner.Account},
	}
	return chatPayload(format, m, in.Params["body"], extra)
}

func names(ws []*Webhook) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Name()
	}
	return out
}

// headline is the message in a few words, for summaries.
func headline(m chatMessage) string {
	if m.Title != "" {
		return "“" + oneLine(m.Title) + "”"
	}
	if m.Text != "" {
		return "“" + clip(oneLine(m.Text), 60) + "”"
	}
	return "a JSON body"
}

func (a *webhook) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	return a.planOffline(in)
}

// planOffline renders the message from the facts and previews it as each
// endpoint's format would carry it; nothing is sent, no secret is shown
// (endpoints are named).
func (a *webhook) planOffline(in *engine.StepInput) (engine.Result, error) {
	fail := func(err error) (engine.Result, error) {
		return engine.Result{Status: engine.StatusFailed, Summary: "webhook: " + err.Error()}, err
	}
	m, err := a.message(in)
	if err != nil {
		return fail(err)
	}
	ws, err := a.endpoints(in)
	if err != nil {
		return fail(err)
	}
	preview := []engine.PreviewField{{Name: "to", Value: names(ws)}}
	if in.Params["body"] == nil {
		preview = append(preview, engine.PreviewField{Name: "title", Value: m.Title}, engine.PreviewField{Name: "text", Value: m.Text})
	}
	formats := []string{}
	for _, w := range ws {
		if !slices.Contains(formats, w.Format()) {
			formats = append(formats, w.Format())
		}
	}
	if len(ws) == 0 {
		formats = WebhookFormats // say how each would look
	}
	for _, f := range formats {
		b, err := a.payload(in, f, m)
		if err != nil {
			return fail(err)
		}
		var pretty bytes.Buffer
		_ = json.Indent(&pretty, b, "", "  ")
		preview = append(preview, engine.PreviewField{Name: "payload_" + f, Value: pretty.String()})
	}
	res := engine.Result{Status: engine.StatusPlanned, Preview: preview,
		Values: map[string]any{"webhooks": names(ws), "title": m.Title}}
	switch {
	case len(ws) > 0:
		res.Summary = fmt.Sprintf("would post %s to %s", headline(m), strings.Join(names(ws), ", "))
	case a.d.Offline:
		res.Summary = fmt.Sprintf("would post %s to every configured webhook", headline(m))
	default:
		res.Summary = fmt.Sprintf("would post %s to no webhook", headline(m))
		res.Details = append(res.Details, "webhooks are not configured: the step would fail")
	}
	return res, nil
}

// Run posts to each endpoint once per execution: a retry of the step posts
// only to those an earlier attempt did not reach. (A crash between the
// endpoint's answer and the journal noting it posts twice: at least once.)
// Every endpoint is tried; the error joins the failures (IsRetryable says
// whether a later retry may help).
func (a *webhook) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	m, err := a.message(in)
	if err != nil {
		return engine.Result{}, err
	}
	ws, err := a.endpoints(in)
	if err != nil {
		return engine.Result{}, err
	}
	if len(ws) == 0 {
		return engine.Result{}, errors.New("webhooks are not configured: add webhooks: (name, url_env, format) to the configuration")
	}
	var posted, earlier []string
	var errs []error
	for _, w := range ws {
		key := "sent:" + w.Name()
		if in.Journal != nil {
			if _, sent := in.Journal.Get(key); sent {
				earlier = append(earlier, w.Name())
				continue
			}
		}
		body, err := a.payload(in, w.Format(), m)
		if err != nil {
			return engine.Result{}, err
		}
		if err := w.Post(ctx, body, in.Log); err != nil {
			errs = append(errs, err)
			continue
		}
		posted = append(posted, w.Name())
		if in.Journal != nil {
			if err := in.Journal.Put(key, "yes"); err != nil {
				in.Log.Warn("webhook: journal", "err", err)
			}
		}
	}
	if len(errs) > 0 {
		return engine.Result{}, errors.Join(errs...)
	}
	summary := fmt.Sprintf("posted %s to %s", headline(m), strings.Join(posted, ", "))
	if len(posted) == 0 {
		summary = fmt.Sprintf("posted %s to %s", headline(m), strings.Join(earlier, ", "))
	}
	if len(earlier) > 0 {
		summary += fmt.Sprintf(" (%s by an earlier attempt)", strings.Join(earlier, ", "))
	}
	return engine.Result{Status: engine.StatusDone, Summary: summary,
		Values: map[string]any{"webhooks": append(posted, earlier...), "title": m.Title}}, nil
}
