package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qs-promoter/qs-promoter/qrs"
	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// ReadEvent is what the daemon and dry-run --live both read: the app, its
// stream and owner; a missing app is qrs not-found, a missing owner or
// stream is left out, any other failure is an error.
func TestReadEvent(t *testing.T) {
	sim, err := qrssim.Start(qrssim.Options{CertDir: filepath.Join(t.TempDir(), "certs"),
		Sites: []qrssim.SiteOptions{{Alias: "dev", Seed: qrssim.DefaultSeed("dev")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dev := sim.Site("dev")
	c, err := qrs.NewClient(dev.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	var appID string
	for _, a := range dev.Apps() {
		if a.Name == "Sales Dashboard" && a.Published {
			appID = a.ID
		}
	}
	ctx := context.Background()
	ev, err := ReadEvent(ctx, c, "dev", appID)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Site != "dev" || ev.App.ID != appID || ev.Stream == nil || ev.Stream.ID != ev.App.Stream.ID || ev.Owner == nil || ev.Owner.ID != ev.App.Owner.ID {
		t.Errorf("event %+v", ev)
	}

	// A value set by another user: that user is read (their e-mail address
	// is how an approvers file knows an approver); the owner's are not.
	mgrCfg := dev.ClientConfig()
	mgrCfg.User = `CORP\sales_manager`
	mgr, err := qrs.NewClient(mgrCfg)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := c.CustomPropertyDefinitions(ctx, qrs.Eq("name", "PromotionApproval"))
	if err != nil || len(defs) != 1 {
		t.Fatalf("definitions %v %v", defs, err)
	}
	if _, err := mgr.UpdateApp(ctx, appID, func(a *qrs.App) error {
		a.CustomProperties = append(a.CustomProperties, qrs.CustomPropertyValue{Value: "Approve",
			Definition: qrs.CustomPropertyDefinitionCondensed{ID: defs[0].ID, Name: defs[0].Name}})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ev, err = ReadEvent(ctx, c, "dev", appID); err != nil {
		t.Fatal(err)
	}
	if len(ev.Setters) != 1 || ev.Setters[0].UserID != "sales_manager" || ev.Setters[0].Email() != "morgan.manager@example.com" {
		t.Errorf("setters %+v", ev.Setters)
	}
	for _, cp := range ev.App.CustomProperties {
		if cp.Definition.Name == "PromotionApproval" && cp.ModifiedByUserName != `CORP\sales_manager` {
			t.Errorf("the approval value says it was set by %q", cp.ModifiedByUserName)
		}
	}

	missing := "00000000-0000-4000-8000-00000000beef"
	_, err = ReadEvent(ctx, c, "dev", missing)
	if !qrs.IsNotFound(err) || !strings.HasPrefix(err.Error(), "app "+missing+" does not exist on site dev: ") {
		t.Errorf("missing app: %v", err)
	}

	dev.SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/user/"}, ErrorStatus: 404})
	ev, err = ReadEvent(ctx, c, "dev", appID)
	if err != nil || ev.Owner != nil || ev.Stream == nil {
		t.Errorf("owner gone: %v %+v", err, ev)
	}
	dev.SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/stream/"}, ErrorStatus: 403})
	_, err = ReadEvent(ctx, c, "dev", appID)
	if err == nil || qrs.IsNotFound(err) || !strings.HasPrefix(err.Error(), "reading the stream of app "+appID+" on site dev: ") {
		t.Errorf("stream refused: %v", err)
	}
}
