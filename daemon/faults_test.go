package daemon

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs/qrssim"
)

// A callback whose unused fields hold numbers, nulls and objects, with the
// change type by name, is accepted and its app evaluated; in a mixed
// callback the App change is taken and the rest ignored, not the whole
// callback refused (QRS would not send it again).
func TestCallbackWithOddFieldsIsTaken(t *testing.T) {
	h := newHarness(t)
	h.start()
	src := appByName(t, h.dev, "Sales Dashboard")
	body := `[{"changeType":2,"objectType":"Stream","objectID":"3b2c1f9e-7a44-4d0b-8f3e-2c9a1d5e7b21"},
		{"changeType":"update","objectType":"App","objectID":"` + src.ID + `","changedProperties":["modifiedDate",7,null],
		 "engineID":null,"engineType":1,"originatorNodeID":42,"originatorHostName":{"name":"qlik"},"originatorContextID":0,
		 "createdDate":null,"modifiedDate":1732001840156,"schemaPath":null}]`
	status, answer := h.post(h.callbackPath("dev"), []byte(body))
	if status != 202 || !strings.Contains(answer, `"accepted":1`) {
		t.Fatalf("callback: %d %s", status, answer)
	}
	waitFor(t, 10*time.Second, "the app's evaluation", func() bool { return len(h.reportsFor(src.ID)) > 0 })
	if r := h.reportsFor(src.ID)[0]; r.Outcome == OutcomeError || !slices.Contains(r.Kinds, "updated") {
		t.Errorf("evaluation %+v", r)
	}
}

// One failed health probe is not an outage: the site stays up, yet its
// subscriptions are renewed at once (a restart may have dropped them) and
// the old set deleted.
func TestHealthProbeBlipRenewsWithoutOutage(t *testing.T) {
	h := newHarness(t)
	h.start()
	before := slices.Clone(h.d.Status().Sites[0].Subscriptions)
	h.dev.SetFaults(qrssim.Faults{ErrorPaths: []string{"/qrs/about"}, ErrorStatus: 500, ErrorCount: 1})
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := h.d.Status().Sites[0]
		if !st.Up {
			t.Fatalf("one failed probe counted the site down: %s", st.LastError)
		}
		if !slices.Equal(st.Subscriptions, before) && len(st.Subscriptions) == len(subscriptions) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no renewal after a failed probe")
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, "one set at rest", func() bool { return len(h.dev.Subscriptions()) == len(subscriptions) })
	for _, s := range h.dev.Subscriptions() {
		if slices.Contains(before, s.Handle) {
			t.Errorf("the replaced handle %s is still live", s.Handle)
		}
	}
}
