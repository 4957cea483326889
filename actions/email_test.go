package actions

import (
	"context"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/engine"
)

func promoteResult() engine.Result {
	return engine.Result{Status: engine.StatusFailed, Values: map[string]any{
		"apps": asValue([]PromotedApp{
			{Site: "test", Host: "qlik-test.company.com", Stream: "Everyone", StreamID: "s1", AppID: "aaaa0000-0000-4000-8000-000000000001", Action: "replaced", URL: "https://qlik-test.company.com/sense/app/aaaa0000-0000-4000-8000-000000000001", Name: "Sales"},
			{Site: "test", Host: "qlik-test.company.com", Stream: "Sales", StreamID: "s2", AppID: "aaaa0000-0000-4000-8000-000000000002", Action: "published", URL: "https://qlik-test.company.com/sense/app/aaaa0000-0000-4000-8000-000000000002", Name: "Sales"},
		}),
		"streams_not_found": asValue(map[string][]string{"test": {"Review"}, "prod": {"Everyone", "Sales"}}),
		"failures":          asValue([]SiteFailure{{Site: "qa", Error: "site 'qa' is not configured"}}),
	}}
}

func TestEmailTemplatesGolden(t *testing.T) {
	a := &email{d: Deps{}}
	for _, name := range []string{"approved", "denied", "published-alert", "results"} {
		t.Run(name, func(t *testing.T) {
			in := stepIn(t, a, engine.Params{"to": []string{"rita@example.com"}, "template": name, "hub_host": "qlik-dev.company.com"})
			in.Results["promote"] = promoteResult()
			msg, err := a.message(in)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "email/"+name+".txt", "Subject: "+msg.Subject+"\n\n"+msg.Text)
		})
	}
}

func TestEmailTemplateOverridesAndErrors(t *testing.T) {
	a := &email{d: Deps{}}
	in := stepIn(t, a, engine.Params{"template": "denied", "subject": "custom\nsubject"})
	msg, err := a.message(in)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "custom subject" || !strings.Contains(msg.Text, "Denied by: COMPANY\\manager") {
		t.Errorf("subject %q body %q", msg.Subject, msg.Text)
	}
	for _, tc := range []struct {
		params engine.Params
		want   string
	}{
		{engine.Params{"template": "approve"}, "template 'approve' is not one of"},
		{engine.Params{"subject": "x"}, "no content"},
		{engine.Params{"template": "results", "results_from": "pr"}, "no earlier step 'pr'"},
	} {
		if _, err := a.message(stepIn(t, a, tc.params)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.params, err, tc.want)
		}
	}
}

func TestEmailRunSendsOnceToDeduplicatedRecipients(t *testing.T) {
	srv := startSMTP(t, smtpOpts{mode: "starttls"})
	m := newTestMailer(t, srv.config(TLSStartTLS))
	d := Deps{Mail: m, Retry: fastRetry, Approvers: map[string][]string{
		"90081726-8077-4a1b-8320-86986ac3e55c": {"boss@example.com", "RITA@example.com", `CORP\boss`}, // an account gets no e-mail
	}}
	a := &email{d: d}
	in := stepIn(t, a, engine.Params{"to": []string{"rita@example.com", ""}, "to_stream_approvers": true, "template": "published-alert", "hub_host": "hub.example.com"})
	res, err := a.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != engine.StatusDone {
		t.Errorf("status %s", res.Status)
	}
	if got := res.Values["recipients"].([]string); strings.Join(got, " ") != "boss@example.com rita@example.com" {
		t.Errorf("recipients %v", got)
	}
	got := srv.mails()
	if len(got) != 1 || len(got[0].To) != 2 {
		t.Fatalf("mails %+v", got)
	}
	if !strings.Contains(bodyText(t, got[0].Data), "https://hub.example.com/sense/app/3b2c1a00-1111-4222-8333-444455556666") {
		t.Errorf("no hub link in %s", got[0].Data)
	}
	// The same step again (a retry of the execution): nothing more is sent.
	if _, err := a.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.mails()); n != 1 {
		t.Errorf("%d messages after a retry, want 1", n)
	}
}

func TestEmailRunSkipsWithoutRecipient(t *testing.T) {
	srv := startSMTP(t, smtpOpts{mode: "starttls"})
	a := &email{d: Deps{Mail: newTestMailer(t, srv.config(TLSStartTLS))}}
	in := stepIn(t, a, engine.Params{"to": []string{""}, "template": "approved"})
	in.Facts.App.Owner.Email = ""
	res, err := a.Run(context.Background(), in)
	if err != nil || res.Status != engine.StatusSkipped {
		t.Fatalf("res %+v err %v, want skipped", res, err)
	}
	if !strings.Contains(res.Summary, `owner 'COMPANY\rep' has no e-mail attribute`) {
		t.Errorf("summary %q", res.Summary)
	}
	if len(srv.mails()) != 0 {
		t.Error("a message was sent")
	}
}

func TestEmailRunRetriesTransientFailures(t *testing.T) {
	srv := startSMTP(t, smtpOpts{mode: "starttls"})
	srv.failTimes = 2
	a := &email{d: Deps{Mail: newTestMailer(t, srv.config(TLSStartTLS)), Retry: fastRetry}}
	if _, err := a.Run(context.Background(), stepIn(t, a, engine.Params{"to": []string{"a@example.com"}, "body": "b"})); err != nil {
		t.Fatal(err)
	}
	if len(srv.mails()) != 1 {
		t.Errorf("want the message delivered on the third attempt")
	}
}

// A mail server that keeps answering 451 beyond the step's own retries is
// a transient failure: the execution tries again later (and, the message
// not sent, sends it then). A refused recipient is permanent.
func TestEmailFailureIsClassified(t *testing.T) {
	srv := startSMTP(t, smtpOpts{mode: "starttls"})
	srv.failTimes = 100
	a := &email{d: Deps{Mail: newTestMailer(t, srv.config(TLSStartTLS)), Retry: fastRetry}}
	_, err := a.Run(context.Background(), stepIn(t, a, engine.Params{"to": []string{"a@example.com"}, "body": "b"}))
	if err == nil || !engine.IsTransient(err) {
		t.Fatalf("err = %v, want a transient failure", err)
	}
	srv.failTimes = 0
	_, err = a.Run(context.Background(), stepIn(t, a, engine.Params{"to": []string{"a@example.com"}, "body": "b"}))
	if err != nil || len(srv.mails()) != 1 {
		t.Fatalf("once the server accepts: err %v, %d messages", err, len(srv.mails()))
	}
	a.d.Mail = nil
	if _, err = a.Run(context.Background(), stepIn(t, a, engine.Params{"to": []string{"a@example.com"}, "body": "b"})); err == nil || engine.IsTransient(err) {
		t.Errorf("e-mail not configured: err = %v, want a permanent failure", err)
	}
}

func TestEmailNotConfiguredAndPlan(t *testing.T) {
	a := &email{d: Deps{}}
	in := stepIn(t, a, engine.Params{"to": []string{"a@example.com"}, "template": "approved"})
	if _, err := a.Run(context.Background(), in); err == nil || !strings.Contains(err.Error(), "e-mail is not configured") {
		t.Errorf("Run without a mailer: %v", err)
	}
	res, err := a.Plan(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := `would e-mail “'Sales "Q1" {{ app.id }} <b>' promotion approved by: 'COMPANY\manager'” to a@example.com`
	if res.Status != engine.StatusPlanned || res.Summary != want {
		t.Errorf("plan %+v\nwant summary %s", res, want)
	}
}

// bodyText decodes a single-part quoted-printable message body.
func bodyText(t *testing.T, data string) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(parseMail(t, data).Body))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
