package actions

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/textproto"
	"slices"
	"sort"
	"strings"
	"text/template"

	"github.com/qs-promoter/qs-promoter/engine"
)

func init() { register(func(d Deps) engine.Action { return &email{d: d} }) }

var (
	_ engine.Action  = (*email)(nil)
	_ engine.Planner = (*email)(nil)
	_ offlinePlanner = (*email)(nil)
)

// email sends one message through Deps.Mail.
type email struct{ d Deps }

//go:embed templates/*.tmpl
var templateFS embed.FS

// mailTemplates are the built-in messages, by name: each defines "subject"
// and "body" over mailData.
var mailTemplates = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"approved", "denied", "published-alert", "results"} {
		out[name] = template.Must(template.New(name).
			Funcs(template.FuncMap{"join": strings.Join}).
			ParseFS(templateFS, "templates/"+name+".tmpl"))
	}
	return out
}()

// templateDataParams are the parameters of what the built-in messages
// (e-mail and webhook) show.
var templateDataParams = []engine.Param{
	{Name: "approver", Kind: engine.KindString, DefaultDoc: "who set the app's `config.approval_property` value", Doc: "the approver named by the templates"},
	{Name: "targets", Kind: engine.KindStrings, DefaultDoc: "the app's `config.server_property` values", Doc: "target sites listed by `approved`"},
	{Name: "streams", Kind: engine.KindStrings, DefaultDoc: "the app's `config.stream_property` values", Doc: "target streams listed by `approved`"},
	{Name: "results_from", Kind: engine.KindString, Default: "promote", Doc: "the promote step whose Values `results` lists"},
	{Name: "hub_host", Kind: engine.KindString, DefaultDoc: "the event site's host", Doc: "host of the hub link in `published-alert`"},
}

// mailData is what the built-in templates see.
type mailData struct {
	App             engine.AppFacts
	Event           engine.EventFacts
	HubURL          string // the app's hub link on its own site
	Approver        string
	Targets         []string
	Streams         []string
	Apps            []PromotedApp
	StreamsNotFound map[string][]string
	Failures        []SiteFailure
}

func (a *email) Spec() engine.ActionSpec {
	return engine.ActionSpec{
		Name:    "email",
		Summary: "Send an e-mail (built-in templates: approved, denied, published-alert, results).",
		Params: append([]engine.Param{
			{Name: "to", Kind: engine.KindStrings, Doc: "recipients: `\"{{ app.owner.email }}\"`, literals"},
			{Name: "to_stream_approvers", Kind: engine.KindBool, Default: false, Doc: "add the e-mail addresses the approvers file maps to the app's stream"},
			{Name: "cc", Kind: engine.KindStrings, Doc: "copy recipients"},
			{Name: "subject", Kind: engine.KindText, DefaultDoc: "the template's", Doc: "subject"},
			{Name: "body", Kind: engine.KindText, DefaultDoc: "the template's", Doc: "plain-text body"},
			{Name: "html", Kind: engine.KindHTML, Doc: "HTML body (sent as an alternative when `body` is given too)"},
			{Name: "template", Kind: engine.KindString, Doc: "built-in message: `approved`, `denied`, `published-alert`, `results`"},
		}, templateDataParams...),
		Example: `- id: alert
  action: email
  with:
    to_stream_approvers: true
    template: published-alert
- id: results-mail
  action: email
  on_error: continue
  with:
    to: "{{ app.owner.email }}"
    template: results
- action: email
  with:
    to: ["{{ app.owner.email }}", qlik-admins@example.com]
    subject: "'{{ app.name }}' is live on test"
    html: "<p>{{ app.name }} was promoted: <a href='{{ steps.promote.apps[0].url }}'>open it</a></p>"
`,
	}
}

// message builds the message and its recipients from the parameters.
func (a *email) message(in *engine.StepInput) (Message, error) {
	p := in.Params
	msg := Message{To: slices.Clone(p.Strings("to")), Cc: p.Strings("cc"), Subject: p.String("subject"), Text: p.String("body"), HTML: p.String("html")}
	if p.Bool("to_stream_approvers") {
		for _, entry := range a.d.Approvers[strings.ToLower(in.Facts.App.Stream.ID)] {
			if !isAccount(entry) { // an account approves, but has no address here
				msg.To = append(msg.To, entry)
			}
		}
	}
	if name := p.String("template"); name != "" {
		t, ok := mailTemplates[name]
		if !ok {
			return msg, fmt.Errorf("template %s is not one of approved, denied, published-alert, results", q(name))
		}
		data, err := templateData(a.d, in)
		if err != nil {
			return msg, err
		}
		var subject, body strings.Builder
		if err := t.ExecuteTemplate(&subject, "subject", data); err != nil {
			return msg, err
		}
		if err := t.ExecuteTemplate(&body, "body", data); err != nil {
			return msg, err
		}
		if msg.Subject == "" {
			msg.Subject = subject.String()
		}
		if msg.Text == "" && msg.HTML == "" {
			msg.Text = body.String()
		}
	}
	msg.Subject = headerText(msg.Subject)
	if msg.Text == "" && msg.HTML == "" {
		return msg, errors.New("no content: give body, html or template")
	}
	return msg, nil
}

// templateData is what a built-in message shows, from the step's
// parameters (templateDataParams), the facts and earlier steps.
func templateData(deps Deps, in *engine.StepInput) (*mailData, error) {
	p := in.Params
	d := &mailData{App: in.Facts.App, Event: in.Facts.Event, Approver: p.String("approver"),
		Targets: p.Strings("targets"), Streams: p.Strings("streams")}
	if d.Approver == "" {
		d.Approver = approverOf(in.Facts)
	}
	// Without explicit lists, the approved template shows the app's target
	// properties, named as in the configuration (the original's names otherwise).
	if len(d.Targets) == 0 {
		d.Targets = in.Facts.App.Properties[configString(in.Facts, "server_property", "PromoteToServer")]
	}
	if len(d.Streams) == 0 {
		d.Streams = in.Facts.App.Properties[configString(in.Facts, "stream_property", "PromoteToStream")]
	}
	host := p.String("hub_host")
	if c := deps.Sites[in.Facts.Event.Site]; host == "" && c != nil {
		host = c.HubHost()
	}
	if host != "" {
		d.HubURL = hubURL(host, in.Facts.App.ID)
	}
	if p.String("template") == "results" {
		from := p.String("results_from")
		r, ok := in.Results[from]
		if !ok {
			return nil, fmt.Errorf("results template: no earlier step %s in this policy (set results_from to the promote step's id)", q(from))
		}
		var err error
		if d.Apps, err = decodeValue[PromotedApp](r.Values["apps"], "steps."+from+".apps"); err != nil {
			return nil, err
		}
		if d.Failures, err = decodeValue[SiteFailure](r.Values["failures"], "steps."+from+".failures"); err != nil {
			return nil, err
		}
		nf, err := decodeValue[map[string][]string](r.Values["streams_not_found"], "steps."+from+".streams_not_found")
		if err != nil {
			return nil, err
		}
		if len(nf) > 0 && len(nf[0]) > 0 {
			d.StreamsNotFound = nf[0]
		}
	}
	return d, nil
}

func (a *email) Plan(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	return a.planOffline(in)
}

// planOffline is the plan, live or not: the message is rendered from the
// facts, and nothing is read. Its preview is the message as it would go
// out, so that a template edit can be read before it is live; a message to
// no one is previewed too.
func (a *email) planOffline(in *engine.StepInput) (engine.Result, error) {
	msg, err := a.message(in)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "email: " + err.Error()}, err
	}
	to, cc, err := Recipients(msg.To, msg.Cc)
	if err != nil {
		return engine.Result{Status: engine.StatusFailed, Summary: "email: " + err.Error()}, err
	}
	preview := []engine.PreviewField{
		{Name: "to", Value: append([]string{}, addrStrings(to)...)},
		{Name: "cc", Value: append([]string{}, addrStrings(cc)...)},
		{Name: "subject", Value: msg.Subject},
	}
	if msg.Text != "" {
		preview = append(preview, engine.PreviewField{Name: "body", Value: msg.Text})
	}
	if msg.HTML != "" {
		preview = append(preview, engine.PreviewField{Name: "html", Value: msg.HTML})
	}
	if len(to)+len(cc) == 0 {
		return engine.Result{Status: engine.StatusSkipped, Summary: "would send no e-mail: " + a.noRecipient(in), Preview: preview}, nil
	}
	res := engine.Result{Status: engine.StatusPlanned,
		Summary: fmt.Sprintf("would e-mail “%s” to %s", oneLine(msg.Subject), addrList(to, cc)),
		Values:  map[string]any{"recipients": addrStrings(to, cc), "subject": msg.Subject},
		Preview: preview}
	if a.d.Mail == nil && !a.d.Offline {
		res.Details = append(res.Details, "e-mail is not configured: the step would fail")
	}
	return res, nil
}

// Run sends the message once per execution: a retry of a step whose
// message went out does not send it again. (A crash between the server
// accepting it and the journal noting it sends it twice: at least once.)
func (a *email) Run(ctx context.Context, in *engine.StepInput) (engine.Result, error) {
	msg, err := a.message(in)
	if err != nil {
		return engine.Result{}, err
	}
	to, cc, err := Recipients(msg.To, msg.Cc)
	if err != nil {
		return engine.Result{}, err
	}
	if len(to)+len(cc) == 0 {
		return engine.Result{Status: engine.StatusSkipped, Summary: "no e-mail sent: " + a.noRecipient(in)}, nil
	}
	values := map[string]any{"recipients": addrStrings(to, cc), "subject": msg.Subject}
	summary := fmt.Sprintf("e-mailed “%s” to %s", oneLine(msg.Subject), addrList(to, cc))
	if in.Journal != nil {
		if _, sent := in.Journal.Get("sent"); sent {
			return engine.Result{Status: engine.StatusDone, Summary: summary + " (earlier attempt)", Values: values}, nil
		}
	}
	if a.d.Mail == nil {
		return engine.Result{}, errors.New("e-mail is not configured: add smtp (host, from, username, password_env) to the configuration")
	}
	_, err = retryIf(ctx, a.d.Retry, transientSMTP, func(ctx context.Context) (struct{}, error) {
		err := a.d.Mail.Send(ctx, msg)
		if err != nil && transientSMTP(err) {
			in.Log.Warn("email: transient failure", "err", err)
		}
		return struct{}{}, err
	})
	if err != nil {
		if transientSMTP(err) {
			return engine.Result{}, transient{err} // the execution tries again later
		}
		return engine.Result{}, err
	}
	if in.Journal != nil {
		if err := in.Journal.Put("sent", "yes"); err != nil {
			in.Log.Warn("email: journal", "err", err)
		}
	}
	return engine.Result{Status: engine.StatusDone, Summary: summary, Values: values}, nil
}

func (a *email) noRecipient(in *engine.StepInput) string {
	why := "no recipient"
	if in.Params.Bool("to_stream_approvers") {
		why += fmt.Sprintf(" (no approvers mapped to stream %s)", q(in.Facts.App.Stream.Name))
	}
	if in.Facts.App.Owner.Email == "" {
		why += fmt.Sprintf("; owner %s has no e-mail attribute", q(in.Facts.App.Owner.Account))
	}
	return why
}

// transientSMTP reports 4xx replies and network failures (not TLS policy).
func transientSMTP(err error) bool {
	if errors.Is(err, ErrNoSTARTTLS) {
		return false
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 400 && te.Code < 500
	}
	var ne net.Error
	return errors.As(err, &ne)
}

func addrStrings(lists ...[]*mail.Address) []string {
	var out []string
	for _, l := range lists {
		for _, a := range l {
			out = append(out, a.Address)
		}
	}
	sort.Strings(out)
	return out
}

func addrList(to, cc []*mail.Address) string {
	s := strings.Join(addrStrings(to), ", ")
	if len(cc) > 0 {
		s += " (cc " + strings.Join(addrStrings(cc), ", ") + ")"
	}
	return s
}

// approverOf is who set the app's approval value (app.set_by of
// config.approval_property), or, when QRS does not say, who last changed
// the app: a name for a message, never a four-eyes decision.
func approverOf(f *engine.Facts) string {
	if by := f.App.SetterOf(configString(f, "approval_property", "PromotionApproval")); by != "" {
		return by
	}
	return f.App.ModifiedBy
}

// configString reads a string from the configuration's policy values.
func configString(f *engine.Facts, key, def string) string {
	if s, ok := f.Config[key].(string); ok && s != "" {
		return s
	}
	return def
}
