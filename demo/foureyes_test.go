package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// chatChannel is a Teams Workflows endpoint: it takes what a channel would
// show and answers 202, as Teams does.
type chatChannel struct {
	*httptest.Server
	mu    sync.Mutex
	cards []string // each post's card text: title and text blocks
}

func startChatChannel(t *testing.T) *chatChannel {
	ch := &chatChannel{}
	ch.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Type        string `json:"type"`
			Attachments []struct {
				ContentType string `json:"contentType"`
				Content     struct {
					Body []struct {
						Text string `json:"text"`
					} `json:"body"`
				} `json:"content"`
			} `json:"attachments"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &msg); err != nil || msg.Type != "message" || len(msg.Attachments) != 1 ||
			msg.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
			http.Error(w, "BadPayload", http.StatusBadRequest)
			return
		}
		var text []string
		for _, b := range msg.Attachments[0].Content.Body {
			text = append(text, b.Text)
		}
		ch.mu.Lock()
		ch.cards = append(ch.cards, strings.Join(text, "\n"))
		ch.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(ch.Close)
	return ch
}

func (ch *chatChannel) posts() []string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return append([]string(nil), ch.cards...)
}

// secretPath is the secret part of the chat's URL, as in a Workflows URL.
const secretPath = "/workflows/SECRET-4e1d9c/triggers/manual/paths/invoke?sig=SIG-SECRET-77a0"

// Four eyes end to end: the rep approves their own app, which promotes
// nothing and changes nothing, and they are told by e-mail and in the chat
// channel; then the manager, whom the approvers file lists for Review by
// e-mail address, approves and the app is promoted. The chat URL shows in
// no log, no audit record and not on /status.
func TestScenarioFourEyes(t *testing.T) {
	t.Parallel()
	chat := startChatChannel(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var narration bytes.Buffer
	p := &Player{Out: &narration, ActTimeout: 15 * time.Second}
	env, err := Start(ctx, Options{Dir: t.TempDir(), Seeds: scenarioSeeds(), Vars: map[string]any{"four_eyes": true},
		Progress: p.Progress, CoalesceWindow: 50 * time.Millisecond,
		Webhooks: []Webhook{{Name: "chat", Format: "teams", URL: chat.URL + secretPath}}})
	if err != nil {
		t.Fatal(err)
	}
	p.Env = env
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("narration:\n%s", narration.String())
		}
	})
	const app = "App A"
	props := map[string][]string{"PromotionApproval": {"Approve"}, "PromoteToServer": {"test - Overwrite"}, "PromoteToStream": {"Everyone"}}
	setAs := func(account string, props map[string][]string) func(context.Context, *Env) (string, error) {
		return func(ctx context.Context, e *Env) (string, error) {
			id, err := appByName(e, app)
			if err != nil {
				return "", err
			}
			return id, e.SetProperties(ctx, account, id, props)
		}
	}
	play(t, p, Act{
		Title:  "Sam Rep approves their own app",
		Before: targetsSnapshot,
		Do:     setAs(Rep, props),
		Expect: []string{"approval-refused"},
		Check: func(c *Check) {
			targetsUntouched(c)
			stillPublished(c)
			a, _ := c.Env.Sim.Site("dev").App(c.AppID)
			c.That(len(a.CustomProperties) == 3, "dev: the app's properties changed: %v", a.CustomProperties)
			mails := c.Env.MailsTo(c.MailMark, RepEmail)
			c.That(len(mails) == 1 && strings.Contains(mails[0].Subject, "not approved: four eyes") &&
				strings.Contains(mails[0].Text, Rep+" owns the app"), "the owner was not told why: %+v", mails)
			c.That(len(c.Env.Mail.Messages()) == c.MailMark+1, "other e-mails went out")
			posts := chat.posts()
			c.That(len(posts) == 1 && strings.Contains(posts[0], "promotion not approved: four eyes") && strings.Contains(posts[0], Rep+" owns the app"),
				"the chat was not told: %q", posts)
		},
	})
	play(t, p, Act{
		Title: "Morgan Manager, an approver of Review by e-mail address, approves it",
		Before: func(e *Env) map[string]string {
			id := e.AppID(app)
			return map[string]string{"source": id, "content": e.ContentHash("dev", id)}
		},
		Do:     setAs(Manager, map[string][]string{"PromotionApproval": {"Approve"}}),
		Expect: []string{"promote-approved"},
		Check: func(c *Check) {
			e := c.Env
			promoted := e.AppIn("test", app, "Everyone")
			c.That(len(promoted) == 1 && e.ContentHash("test", promoted[0].ID) == c.Before["content"], "test: the app was not promoted")
			checkUnpublished(c, app)
			subjects := subjectsOf(e.MailsTo(c.MailMark, RepEmail))
			want := "'" + app + "' promotion approved by: '" + Manager + "'"
			c.That(len(subjects) == 2 && subjects[0] == want, "e-mails to the owner %q, want %q first", subjects, want)
			posts := chat.posts()
			c.That(len(posts) == 3 && strings.Contains(posts[1], "promotion approved by '"+Manager+"'") && strings.Contains(posts[2], "promotion results"),
				"chat posts %q", posts)
		},
	})

	// The secret never shows where an admin looks.
	st, err := env.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	statusJSON, _ := json.Marshal(st)
	logs, _ := os.ReadFile(filepath.Join(env.Dir, "daemon.log"))
	var audit []byte
	filepath.WalkDir(filepath.Join(env.Dir, "state"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), "audit") {
			b, _ := os.ReadFile(path)
			audit = append(audit, b...)
		}
		return nil
	})
	if len(audit) == 0 || !bytes.Contains(audit, []byte(`"action":"webhook"`)) {
		t.Errorf("the audit log has no webhook step: %d bytes", len(audit))
	}
	for where, text := range map[string][]byte{"/status": statusJSON, "daemon.log": logs, "audit": audit} {
		for _, secret := range []string{"SECRET-4e1d9c", "SIG-SECRET", strings.TrimPrefix(chat.URL, "http://")} {
			if bytes.Contains(text, []byte(secret)) {
				t.Errorf("%s shows %q", where, secret)
			}
		}
	}
	if !bytes.Contains(logs, []byte("webhook uses http://")) {
		t.Error("no warning at start about the http:// webhook")
	}
	if err := env.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}
