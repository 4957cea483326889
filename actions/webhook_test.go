package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/engine"
)

// endpoint is a local webhook endpoint: it records what it receives and
// answers as told (a status per call, the last one repeated).
type endpoint struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   [][]byte
	headers  []http.Header
	paths    []string
	statuses []int
	answer   string
	retryAft string
	delay    time.Duration
}

func startEndpoint(t *testing.T, statuses ...int) *endpoint {
	t.Helper()
	e := &endpoint{statuses: statuses}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		n := len(e.bodies)
		e.bodies = append(e.bodies, b)
		e.headers = append(e.headers, r.Header.Clone())
		e.paths = append(e.paths, r.URL.String())
		status := http.StatusAccepted
		if len(e.statuses) > 0 {
			status = e.statuses[min(n, len(e.statuses)-1)]
		}
		answer, ra, delay := e.answer, e.retryAft, e.delay
		e.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.bodies)
}

func (e *endpoint) body(i int) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bodies[i]
}

// The secrets of the test endpoints: in the URL's path and query, and a header.
const (
	secretPath   = "/workflows/SECRET-PATH-7f3a/triggers/manual/paths/invoke"
	secretQuery  = "sig=SECRET-SIG-91c2"
	secretHeader = "SECRET-HEADER-5be0"
)

// newTestWebhook builds an endpoint from the environment, as the daemon
// does, with fast retries whose waits are recorded instead of slept.
func newTestWebhook(t *testing.T, name, format, url string) (*Webhook, *[]time.Duration) {
	t.Helper()
	env := "QSP_TEST_WEBHOOK_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	t.Setenv(env, url)
	t.Setenv(env+"_KEY", secretHeader)
	w, err := NewWebhook(WebhookConfig{Name: name, URLEnv: env, Format: format, HeadersEnv: map[string]string{"X-Api-Key": env + "_KEY"}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	waits := &[]time.Duration{}
	w.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		*waits = append(*waits, d)
		return ctx.Err()
	}
	return w, waits
}

func webhookStep(t *testing.T, deps Deps, params engine.Params) (*webhook, *engine.StepInput) {
	t.Helper()
	a := &webhook{d: deps}
	in := stepIn(t, a, params)
	in.Results["promote"] = promoteResult()
	return a, in
}

func TestWebhookPayloadsGolden(t *testing.T) {
	if err := os.MkdirAll(filepath.Join("testdata", "webhook"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"approved", "denied", "published-alert", "results"} {
		a, in := webhookStep(t, Deps{}, engine.Params{"template": name, "hub_host": "qlik-dev.company.com"})
		m, err := a.message(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range WebhookFormats {
			b, err := a.payload(in, format, m)
			if err != nil {
				t.Fatal(err)
			}
			switch format {
			case FormatTeams:
				checkTeamsMessage(t, name, b)
			case FormatSlack:
				checkSlackMessage(t, name, b)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, b, "", "  "); err != nil {
				t.Fatalf("%s/%s: not JSON: %v", name, format, err)
			}
			golden(t, "webhook/"+name+"."+format+".json", pretty.String()+"\n")
		}
	}
}

// checkTeamsMessage checks a payload against what a Teams Workflows webhook
// takes: {"type": "message", "attachments": [{"contentType":
// "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}, the
// card of version 1.4 or later, each element and action of a type the card
// schema knows, with its required properties and enum values.
func checkTeamsMessage(t *testing.T, what string, b []byte) {
	t.Helper()
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			ContentURL  *string         `json:"contentUrl"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msg); err != nil {
		t.Fatalf("%s: not a Teams message: %v", what, err)
	}
	if msg.Type != "message" || len(msg.Attachments) != 1 || msg.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("%s: envelope %+v", what, msg)
	}
	var card map[string]any
	if err := json.Unmarshal(msg.Attachments[0].Content, &card); err != nil {
		t.Fatal(err)
	}
	problem := func(format string, args ...any) {
		t.Errorf("%s: adaptive card: "+format, append([]any{what}, args...)...)
	}
	if card["type"] != "AdaptiveCard" || card["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" {
		problem("type %v schema %v", card["type"], card["$schema"])
	}
	if v, _ := card["version"].(string); v != "1.4" && v != "1.5" {
		problem("version %q, want 1.4 or later that Teams renders", v)
	}
	enums := map[string][]string{
		"size":    {"Default", "Small", "Medium", "Large", "ExtraLarge"},
		"weight":  {"Default", "Lighter", "Bolder"},
		"spacing": {"Default", "None", "Small", "Medium", "Large", "ExtraLarge", "Padding"},
	}
	body, _ := card["body"].([]any)
	if len(body) == 0 {
		problem("no body")
	}
	for i, el := range body {
		e, _ := el.(map[string]any)
		for k, allowed := range enums {
			if v, ok := e[k]; ok && !slices.Contains(allowed, fmt.Sprint(v)) {
				problem("body[%d].%s = %v", i, k, v)
			}
		}
		switch e["type"] {
		case "TextBlock":
			if s, ok := e["text"].(string); !ok || s == "" {
				problem("body[%d]: a TextBlock needs text", i)
			}
		case "FactSet":
			facts, _ := e["facts"].([]any)
			if len(facts) == 0 {
				problem("body[%d]: a FactSet needs facts", i)
			}
			for _, f := range facts {
				fm, _ := f.(map[string]any)
				if _, ok := fm["title"].(string); !ok {
					problem("body[%d]: a fact needs a title: %v", i, fm)
				}
				if _, ok := fm["value"].(string); !ok {
					problem("body[%d]: a fact needs a value: %v", i, fm)
				}
			}
		default:
			problem("body[%d]: element type %v", i, e["type"])
		}
	}
	actions, _ := card["actions"].([]any)
	for i, a := range actions {
		am, _ := a.(map[string]any)
		if u, _ := am["url"].(string); am["type"] != "Action.OpenUrl" || !strings.HasPrefix(u, "https://") {
			problem("actions[%d]: %v", i, am)
		}
	}
}

// checkSlackMessage checks the incoming-webhook shape and Slack's limits.
func checkSlackMessage(t *testing.T, what string, b []byte) {
	t.Helper()
	var msg struct {
		Text   string           `json:"text"`
		Blocks []map[string]any `json:"blocks"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msg); err != nil || msg.Text == "" || len(msg.Blocks) == 0 {
		t.Fatalf("%s: not a Slack message: %v %s", what, err, b)
	}
	for i, bl := range msg.Blocks {
		text, _ := bl["text"].(map[string]any)
		switch bl["type"] {
		case "header":
			if s, _ := text["text"].(string); text["type"] != "plain_text" || s == "" || len([]rune(s)) > slackHeaderMax {
				t.Errorf("%s: blocks[%d] header %v", what, i, text)
			}
		case "section":
			fields, _ := bl["fields"].([]any)
			if text == nil && len(fields) == 0 || len(fields) > slackFieldsMax {
				t.Errorf("%s: blocks[%d] section without text or with %d fields", what, i, len(fields))
			}
			if s, _ := text["text"].(string); text != nil && (text["type"] != "mrkdwn" || len([]rune(s)) > slackSectionMax) {
				t.Errorf("%s: blocks[%d] section text %v", what, i, text)
			}
		default:
			t.Errorf("%s: blocks[%d] type %v", what, i, bl["type"])
		}
	}
	if strings.Contains(string(b), "<b>") {
		t.Errorf("%s: the app name's <b> reached Slack unescaped", what)
	}
}

func TestWebhookRunPostsEveryFormatOnce(t *testing.T) {
	teams, slack, relay := startEndpoint(t), startEndpoint(t, http.StatusOK), startEndpoint(t, http.StatusNoContent)
	wt, _ := newTestWebhook(t, "chat", FormatTeams, teams.URL+secretPath+"?"+secretQuery)
	ws, _ := newTestWebhook(t, "slack", FormatSlack, slack.URL+"/services/T0/B0/SECRET")
	wj, _ := newTestWebhook(t, "relay", FormatJSON, relay.URL+"/hook")
	a, in := webhookStep(t, Deps{Webhooks: []*Webhook{wt, ws, wj}}, engine.Params{"template": "approved"})
	res, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.StatusDone || !strings.Contains(res.Summary, "to chat, slack, relay") || strings.Join(res.Values["webhooks"].([]string), ",") != "chat,slack,relay" {
		t.Errorf("result %+v", res)
	}
	for _, e := range []*endpoint{teams, slack, relay} {
		if e.calls() != 1 {
			t.Fatalf("%d calls", e.calls())
		}
		h := e.headers[0]
		if h.Get("Content-Type") != "application/json; charset=utf-8" || h.Get("X-Api-Key") != secretHeader {
			t.Errorf("headers %v", h)
		}
	}
	if teams.paths[0] != secretPath+"?"+secretQuery {
		t.Errorf("posted to %s", teams.paths[0])
	}
	checkTeamsMessage(t, "posted", teams.body(0))
	checkSlackMessage(t, "posted", slack.body(0))
	var doc map[string]any
	if err := json.Unmarshal(relay.body(0), &doc); err != nil || doc["template"] != "approved" || doc["policy"] != "test-policy" ||
		!strings.HasPrefix(fmt.Sprint(doc["title"]), `'Sales "Q1" {{ app.id }} <b>' promotion approved by`) {
		t.Errorf("json document %s (%v)", relay.body(0), err)
	}
	// A retry of the step (the same execution) posts nothing again.
	if res, err = a.Run(context.Background(), in); err != nil || !strings.Contains(res.Summary, "by an earlier attempt") {
		t.Fatalf("second run: %+v %v", res, err)
	}
	if teams.calls()+slack.calls()+relay.calls() != 3 {
		t.Errorf("a retry posted again")
	}
}

func TestWebhookBodyIsSentAsIs(t *testing.T) {
	e := startEndpoint(t)
	w, _ := newTestWebhook(t, "chat", FormatTeams, e.URL+"/hook")
	body := map[string]any{"text": `Sales "Q1"`, "n": 2}
	a, in := webhookStep(t, Deps{Webhooks: []*Webhook{w}}, engine.Params{"body": body})
	if _, err := a.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if got := string(e.body(0)); got != `{"n":2,"text":"Sales \"Q1\""}` {
		t.Errorf("body %s", got)
	}
	a, in = webhookStep(t, Deps{Webhooks: []*Webhook{w}}, engine.Params{"body": "not {json"})
	if _, err := a.Run(context.Background(), in); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("err %v", err)
	}
}

func TestWebhookRetriesTransientFailures(t *testing.T) {
	t.Run("5xx then success", func(t *testing.T) {
		e := startEndpoint(t, 503, 502, 202)
		w, waits := newTestWebhook(t, "chat", FormatTeams, e.URL+"/hook")
		a, in := webhookStep(t, Deps{Webhooks: []*Webhook{w}}, engine.Params{"title": "t"})
		if _, err := a.Run(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if e.calls() != 3 || fmt.Sprint(*waits) != "[2s 4s]" {
			t.Errorf("%d calls, waits %v", e.calls(), *waits)
		}
	})
	t.Run("429 waits as asked", func(t *testing.T) {
		e := startEndpoint(t, 429, 200)
		e.retryAft = "7"
		w, waits := newTestWebhook(t, "chat", FormatSlack, e.URL+"/hook")
		a, in := webhookStep(t, Deps{Webhooks: []*Webhook{w}}, engine.Params{"title": "t"})
		if _, err := a.Run(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(*waits) != "[7s]" {
			t.Errorf("waits %v", *waits)
		}
	})
	t.Run("a long Retry-After is left to the execution's retry", func(t *testing.T) {
		e := startEndpoint(t, 429)
		e.retryAft = "120"
		w, waits := newTestWebhook(t, "chat", FormatSlack, e.URL+"/hook")
		a, in := webhookStep(t, Deps{Webhooks: []*Webhook{w}}, engine.Params{"title": "t"})
		_, err := a.Run(context.Background(), in)
		var we *WebhookError
		if !errors.As(err, &we) || !we.Transient() || we.Status != 429 || !IsRetryable(err) || RetryAfter(err) != 2*time.Minute {
			t.Fatalf("err %v", err)
		}
		if e.calls() != 1 || len(*waits) != 0 {
			t.Errorf("%d calls, waits %v", e.calls(), *waits)
		}
		if !strings.Contains(err.Error(), "webhook chat: 429 Too Many Requests (it asks to wait 2m0s)") {
			t.Errorf("message %q", err)
		}
	})
	t.Run("5xx every time: transient after the budget", func(t *testing.T) {
		e := startEndpoint(t, 500)
		e.answer = "flow failed"
		w, _ := newTestWebhook(t, "chat", FormatTeams, e.URL+"/hook")
		a, in := webhookStep(t, Deps{Webhooks: []*Webhook{w}}, engine.Params{"title": "t"})
		_, err := a.Run(context.Background(), in)
		if !IsRetryable(err) || e.calls() != 3 || err.Error() != "webhook chat: 500 Internal Server Error: flow failed (3 attempts)" {
			t.Errorf("%d calls, err %v", e.calls(), err)
		}
		if _, ok := in.Journal.Get("sent:chat"); ok {
			t.Error("a failed post was journalled as sent")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		e := startEndpoint(t)
		e.delay = 5 * time.Second
		w, _ := newTestWebhook(t, "chat", FormatTeams, e.URL+"/hook")
		w.client.Timeout, w.timeout = 50*time.Millisecond, 50*time.Millisecond
		a, in := webhookStep(t, Deps{Webhooks: []*Webhook{w}}, engine.Params{"title": "t"})
		_, err := a.Run(context.Background(), in)
		if !IsRetryable(err) || e.calls() != 3 || !strings.Contains(err.Error(), "webhook chat: no answer within 50ms (3 attempts)") {
			t.Errorf("%d calls, err %v", e.calls(), err)
		}
	})
}

func TestWebhookPermanentFailures(t *testing.T) {
	t.Run("4xx carries the endpoint's answer", func(t *testing.T) {
		e := startEndpoint(t, 400)
		e.answer = "invalid_blocks\n"
		w, waits := newTestWebhook(t, "slack", FormatSlack, e.URL+"/hook")
		a, in := webhookStep(t, Deps{Webhooks: []*Webhook{w}}, engine.Params{"title": "t"})
		_, err := a.Run(context.Background(), in)
		if err == nil || err.Error() != "webhook slack: 400 Bad Request: invalid_blocks" || IsRetryable(err) || e.calls() != 1 || len(*waits) != 0 {
			t.Errorf("%d calls, err %v", e.calls(), err)
		}
	})
	t.Run("redirects are not followed", func(t *testing.T) {
		e := startEndpoint(t, 302)
		w, _ := newTestWebhook(t, "chat", FormatTeams, e.URL+"/hook")
		a, in := webhookStep(t, Deps{Webhooks: []*Webhook{w}}, engine.Params{"title": "t"})
		_, err := a.Run(context.Background(), in)
		if err == nil || IsRetryable(err) || e.calls() != 1 || !strings.Contains(err.Error(), "a redirect, which is not followed") {
			t.Errorf("%d calls %v, err %v", e.calls(), e.paths, err)
		}
	})
	t.Run("one of two endpoints fails: the other is posted to once", func(t *testing.T) {
		good, bad := startEndpoint(t), startEndpoint(t, 404)
		wg, _ := newTestWebhook(t, "good", FormatJSON, good.URL+"/hook")
		wb, _ := newTestWebhook(t, "bad", FormatJSON, bad.URL+"/hook")
		a, in := webhookStep(t, Deps{Webhooks: []*Webhook{wb, wg}}, engine.Params{"title": "t"})
		if _, err := a.Run(context.Background(), in); err == nil || !strings.Contains(err.Error(), "webhook bad: 404 Not Found") {
			t.Fatalf("err %v", err)
		}
		if _, err := a.Run(context.Background(), in); err == nil {
			t.Fatal("the second run succeeded")
		}
		if good.calls() != 1 || bad.calls() != 2 {
			t.Errorf("good %d calls, bad %d", good.calls(), bad.calls())
		}
	})
	t.Run("unknown and missing endpoints", func(t *testing.T) {
		w, _ := newTestWebhook(t, "chat", FormatTeams, "https://example.invalid/hook")
		for _, c := range []struct {
			deps Deps
			to   []string
			want string
		}{
			{Deps{Webhooks: []*Webhook{w}}, []string{"chta"}, "no webhook is named 'chta' (the configured ones: chat)"},
			{Deps{}, []string{"chat"}, "webhooks are not configured"},
			{Deps{}, nil, "webhooks are not configured"},
		} {
			a, in := webhookStep(t, c.deps, engine.Params{"title": "t", "to": c.to})
			if _, err := a.Run(context.Background(), in); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("to %v: err %v, want %q", c.to, err, c.want)
			}
		}
	})
}

// Neither the URL (host, path, query) nor a header value shows in errors,
// log lines, results or plans, even when the endpoint echoes them.
func TestWebhookSecretsNeverShow(t *testing.T) {
	e := startEndpoint(t, 500, 403)
	w, _ := newTestWebhook(t, "chat", FormatTeams, e.URL+secretPath+"?"+secretQuery)
	e.answer = "bad request to " + e.URL + secretPath + "?" + secretQuery + " with key " + secretHeader
	var logs bytes.Buffer
	a, in := webhookStep(t, Deps{Webhooks: []*Webhook{w}}, engine.Params{"template": "published-alert"})
	in.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, runErr := a.Run(context.Background(), in)
	plan, planErr := a.Plan(context.Background(), in)
	// No answer at all: the dial error names the host.
	closed := startEndpoint(t)
	closed.Close()
	wc, _ := newTestWebhook(t, "gone", FormatJSON, closed.URL+secretPath+"?"+secretQuery)
	a2, in2 := webhookStep(t, Deps{Webhooks: []*Webhook{wc}}, engine.Params{"title": "t"})
	in2.Log = in.Log
	_, dialErr := a2.Run(context.Background(), in2)
	if runErr == nil || dialErr == nil || planErr != nil || !IsRetryable(dialErr) {
		t.Fatalf("run %v, dial %v, plan %v", runErr, dialErr, planErr)
	}
	everything := fmt.Sprintf("%v\n%v\n%s\n%+v", runErr, dialErr, logs.String(), plan)
	host := strings.TrimPrefix(e.URL, "http://")
	for _, secret := range []string{"SECRET-PATH", "SECRET-SIG", secretHeader, host, strings.TrimPrefix(closed.URL, "http://")} {
		if strings.Contains(everything, secret) {
			t.Errorf("%q shows in:\n%s", secret, everything)
		}
	}
	if !strings.Contains(runErr.Error(), "403 Forbidden: bad request to <webhook chat>") || !strings.Contains(logs.String(), "webhook=chat") {
		t.Errorf("the endpoint's answer, redacted, is not in the error: %v\nlogs: %s", runErr, logs.String())
	}
}

func TestWebhookPlanPreviewsEachFormat(t *testing.T) {
	wt, _ := newTestWebhook(t, "chat", FormatTeams, "https://example.invalid/a")
	ws := WebhookForPlans(WebhookConfig{Name: "ops", Format: FormatSlack})
	a, in := webhookStep(t, Deps{Webhooks: []*Webhook{wt, ws}}, engine.Params{"template": "denied"})
	res, err := a.Plan(context.Background(), in)
	if err != nil || res.Status != engine.StatusPlanned {
		t.Fatalf("%+v %v", res, err)
	}
	var fields []string
	for _, f := range res.Preview {
		fields = append(fields, f.Name)
	}
	if strings.Join(fields, ",") != "to,title,text,payload_teams,payload_slack" || !strings.HasPrefix(res.Summary, "would post “'Sales") ||
		!strings.HasSuffix(res.Summary, "to chat, ops") {
		t.Errorf("preview %v, summary %q", fields, res.Summary)
	}
	if strings.Contains(fmt.Sprint(res), "example.invalid") {
		t.Errorf("the URL shows in the plan: %+v", res)
	}
	// A plan-only endpoint cannot post.
	a, in = webhookStep(t, Deps{Webhooks: []*Webhook{ws}}, engine.Params{"title": "t"})
	if _, err := a.Run(context.Background(), in); err == nil || !strings.Contains(err.Error(), "plans only") {
		t.Errorf("run with a plan-only endpoint: %v", err)
	}
}

func TestNewWebhookErrors(t *testing.T) {
	t.Setenv("QSP_TEST_BAD_URL", "ftp://SECRET-HOST/x")
	t.Setenv("QSP_TEST_GOOD_URL", "https://example.com/x")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("k\n"), 0o600)
	for _, c := range []struct {
		cfg       WebhookConfig
		key, want string
	}{
		{WebhookConfig{Format: "teams", URLEnv: "X"}, "name", "name is required"},
		{WebhookConfig{Name: "chat room", Format: "teams", URLEnv: "X"}, "name", `name "chat room" may hold only letters`},
		{WebhookConfig{Name: "chat", Format: "temas", URLEnv: "X"}, "format", `format "temas" is not one of teams, slack, json; did you mean "teams"?`},
		{WebhookConfig{Name: "chat", Format: "teams"}, "name", "set url_env (an environment variable holding the URL) or url_file"},
		{WebhookConfig{Name: "chat", Format: "teams", URLEnv: "A", URLFile: "B"}, "url_file", "give url_env or url_file, not both"},
		{WebhookConfig{Name: "chat", Format: "teams", URLEnv: "QSP_TEST_NOT_SET"}, "url_env", "environment variable QSP_TEST_NOT_SET is not set"},
		{WebhookConfig{Name: "chat", Format: "teams", URLFile: filepath.Join(dir, "none")}, "url_file", "no such file"},
		{WebhookConfig{Name: "chat", Format: "teams", URLEnv: "QSP_TEST_BAD_URL"}, "url_env", "the URL in environment variable QSP_TEST_BAD_URL is not an http(s) URL"},
		{WebhookConfig{Name: "chat", Format: "json", URLEnv: "QSP_TEST_GOOD_URL", HeadersEnv: map[string]string{"Content-Type": "X"}}, "headers_env.Content-Type", "Content-Type is set by qs-promoter"},
		{WebhookConfig{Name: "chat", Format: "json", URLEnv: "QSP_TEST_GOOD_URL", HeadersEnv: map[string]string{"X-Key": "QSP_TEST_NOT_SET"}}, "headers_env.X-Key", "header X-Key: environment variable QSP_TEST_NOT_SET is not set"},
		{WebhookConfig{Name: "chat", Format: "json", URLEnv: "QSP_TEST_GOOD_URL", HeadersEnv: map[string]string{"X Key": "A"}}, "headers_env.X Key", `"X Key" is not a header name`},
		{WebhookConfig{Name: "chat", Format: "json", URLEnv: "QSP_TEST_GOOD_URL", HeadersEnv: map[string]string{"X-Key": "A"}, HeadersFile: map[string]string{"x-key": keyFile}}, "headers_file.x-key", "in headers_env too"},
		{WebhookConfig{Name: "chat", Format: "json", URLEnv: "QSP_TEST_GOOD_URL", Timeout: -time.Second}, "timeout", "must not be negative"},
	} {
		_, err := NewWebhook(c.cfg)
		var ce *WebhookConfigError
		if !errors.As(err, &ce) || ce.Key != c.key || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%+v: err %v (key %v), want %q at %s", c.cfg, err, ce, c.want, c.key)
		}
	}
	w, err := NewWebhook(WebhookConfig{Name: "chat", Format: "json", URLEnv: "QSP_TEST_GOOD_URL", HeadersFile: map[string]string{"X-Key": keyFile}})
	if err != nil || w.headers.Get("X-Key") != "k" || w.Insecure() || w.timeout != DefaultWebhookTimeout {
		t.Errorf("%+v %v", w, err)
	}
	t.Setenv("QSP_TEST_HTTP_URL", "http://relay.internal:8080/hook")
	if w, err = NewWebhook(WebhookConfig{Name: "relay", Format: "json", URLEnv: "QSP_TEST_HTTP_URL"}); err != nil || !w.Insecure() {
		t.Errorf("http:// relay: %v", err)
	}
}
