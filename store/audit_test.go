package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// auditFixture is 250 records of two types over 3 apps, 2 users and 2
// policies, a minute apart.
func auditFixture(t0 time.Time) []AuditRecord {
	var recs []AuditRecord
	for i := range 250 {
		r := AuditRecord{Time: t0.Add(time.Duration(i) * time.Minute), Type: "step", ExecutionID: fmt.Sprintf("e%d", i/5),
			Site: "dev", AppID: fmt.Sprintf("app-%d", i%3), AppName: fmt.Sprintf("Sales_%d 100%%", i%3),
			User: fmt.Sprintf(`CORP\u%d`, i%2), Outcome: "done"}
		if i%5 == 0 {
			r.Type, r.Outcome = "decision", "acted"
		}
		switch {
		case i%4 == 0:
			r.Policies = []string{"approval", "notify"}
		case i%2 == 0:
			r.Policies = []string{"approval"}
		}
		if i%7 == 0 {
			r.Record = json.RawMessage(fmt.Sprintf(`{"type":%q,"n":%d}`, r.Type, i))
		}
		recs = append(recs, r)
	}
	return recs
}

func TestAuditRecordsFilteredAndPaginated(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		defer s.Close()
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		all := auditFixture(t0)
		if err := s.AppendAudit(ctx, all[:100]...); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendAudit(ctx, all[100:]...); err != nil {
			t.Fatal(err)
		}

		// count pages through q and returns the records, checking the
		// order and that no page is larger than asked.
		count := func(q AuditQuery) []AuditRecord {
			t.Helper()
			var out []AuditRecord
			for {
				page, err := s.AuditRecords(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if q.Limit > 0 && len(page.Records) > q.Limit {
					t.Fatalf("page of %d, limit %d", len(page.Records), q.Limit)
				}
				out = append(out, page.Records...)
				if page.Next == 0 {
					break
				}
				q.After = page.Next
			}
			for i := 1; i < len(out); i++ {
				if q.Oldest && out[i].ID <= out[i-1].ID || !q.Oldest && out[i].ID >= out[i-1].ID {
					t.Fatalf("records out of order at %d: %d then %d", i, out[i-1].ID, out[i].ID)
				}
			}
			return out
		}
		want := func(keep func(AuditRecord) bool) int {
			n := 0
			for _, r := range all {
				if keep(r) {
					n++
				}
			}
			return n
		}
		for _, tc := range []struct {
			name string
			q    AuditQuery
			keep func(AuditRecord) bool
		}{
			{"all", AuditQuery{Limit: 100}, func(AuditRecord) bool { return true }},
			{"oldest first", AuditQuery{Oldest: true, Limit: 77}, func(AuditRecord) bool { return true }},
			{"policy", AuditQuery{Policy: "notify", Limit: 10}, func(r AuditRecord) bool { return slices.Contains(r.Policies, "notify") }},
			{"policy oldest", AuditQuery{Policy: "approval", Oldest: true, Limit: 50}, func(r AuditRecord) bool { return slices.Contains(r.Policies, "approval") }},
			{"app and type", AuditQuery{AppID: "app-1", Type: "step"}, func(r AuditRecord) bool { return r.AppID == "app-1" && r.Type == "step" }},
			{"user", AuditQuery{User: `CORP\u1`, Limit: 1000}, func(r AuditRecord) bool { return r.User == `CORP\u1` }},
			{"execution", AuditQuery{ExecutionID: "e7"}, func(r AuditRecord) bool { return r.ExecutionID == "e7" }},
			{"time", AuditQuery{Since: t0.Add(10 * time.Minute), Until: t0.Add(20 * time.Minute)}, func(r AuditRecord) bool {
				return !r.Time.Before(t0.Add(10*time.Minute)) && r.Time.Before(t0.Add(20*time.Minute))
			}},
			{"name, any case", AuditQuery{AppName: "SALES_2"}, func(r AuditRecord) bool { return r.AppID == "app-2" }},
			{"name, literal %", AuditQuery{AppName: "100%"}, func(AuditRecord) bool { return true }},
			{"name, % is no wildcard", AuditQuery{AppName: "sales%"}, func(AuditRecord) bool { return false }},
			{"name, _ is no wildcard", AuditQuery{AppName: "sales_0"}, func(r AuditRecord) bool { return r.AppID == "app-0" }},
			{"name, _ is literal", AuditQuery{AppName: "salesX"}, func(AuditRecord) bool { return false }},
			{"policy and user and time", AuditQuery{Policy: "approval", User: `CORP\u0`, Since: t0.Add(100 * time.Minute), Limit: 7}, func(r AuditRecord) bool {
				return slices.Contains(r.Policies, "approval") && r.User == `CORP\u0` && !r.Time.Before(t0.Add(100*time.Minute))
			}},
		} {
			got := count(tc.q)
			if n := want(tc.keep); len(got) != n {
				t.Errorf("%s: %d records, want %d", tc.name, len(got), n)
			}
			for _, r := range got {
				if !tc.keep(r) {
					t.Errorf("%s: record %+v does not match", tc.name, r)
					break
				}
			}
		}

		// Records come back whole.
		page, _ := s.AuditRecords(ctx, AuditQuery{Oldest: true, Limit: 2})
		first, second := page.Records[0], page.Records[1]
		var given map[string]any
		if err := json.Unmarshal(first.Record, &given); err != nil || given["n"] != 0.0 || !first.Time.Equal(t0) || first.Type != "decision" ||
			first.AppName != "Sales_0 100%" || first.User != `CORP\u0` || strings.Join(first.Policies, ",") != "approval,notify" {
			t.Errorf("first record %+v, %s", first, first.Record)
		}
		var generated map[string]any
		if err := json.Unmarshal(second.Record, &generated); err != nil || generated["type"] != "step" || generated["app_id"] != "app-1" {
			t.Errorf("a record stored without its JSON gets one from its fields: %s (%v)", second.Record, err)
		}

		// AllAuditRecords walks every page.
		n := 0
		for r, err := range s.AllAuditRecords(ctx, AuditQuery{Oldest: true, Limit: 40}) {
			if err != nil {
				t.Fatal(err)
			}
			if !r.Time.Equal(t0.Add(time.Duration(n) * time.Minute)) {
				t.Fatalf("record %d at %s", n, r.Time)
			}
			n++
		}
		if n != len(all) {
			t.Errorf("AllAuditRecords yielded %d, want %d", n, len(all))
		}

		// Bad records are refused, and the batch with them.
		bad := []AuditRecord{{Type: "login"}, {Type: "reload", Record: json.RawMessage(`{not json`)}}
		if err := s.AppendAudit(ctx, bad...); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
			t.Errorf("invalid record JSON: %v", err)
		}
		if err := s.AppendAudit(ctx, AuditRecord{User: "x"}); err == nil || !strings.Contains(err.Error(), "needs a type") {
			t.Errorf("a record without a type: %v", err)
		}
		if got := count(AuditQuery{Limit: 1000}); len(got) != len(all) {
			t.Errorf("%d records after refused appends, want %d", len(got), len(all))
		}
	})
}

func TestExecutionsFilteredAndPaginated(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		c := newClock()
		s := db.openClock(t, c)
		defer s.Close()
		t0 := c.now()
		states := []string{"acted", "no_match", "skipped", "failed"}
		type made struct {
			id, site, app, state string
			policies             []string
		}
		var all []made
		for i := range 12 {
			c.add(time.Minute)
			site, app := []string{"dev", "qa"}[i%2], fmt.Sprintf("app-%d", i%4)
			if _, err := s.Record(ctx, []Notification{{Site: site, AppID: app, Change: change(app)}}); err != nil {
				t.Fatal(err)
			}
			job := pendingJob(t, s, site, app)
			if _, err := s.Begin(ctx, job); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveEvent(ctx, job.ExecutionID, []byte(`{}`), fmt.Sprintf("Budget %d", i%4), nil, "r"); err != nil {
				t.Fatal(err)
			}
			m := made{job.ExecutionID, site, app, states[i%4], nil}
			if m.state == "acted" {
				m.policies = []string{"approval"}
			}
			if i%3 == 0 {
				m.policies = append(m.policies, "tags")
			}
			if err := s.Finish(ctx, job, Outcome{State: m.state, Policies: m.policies}); err != nil {
				t.Fatal(err)
			}
			all = append(all, m)
		}
		list := func(q ExecutionQuery) []Execution {
			t.Helper()
			var out []Execution
			for {
				page, err := s.Executions(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, page.Executions...)
				if page.Next == "" {
					return out
				}
				q.After = page.Next
			}
		}
		for _, tc := range []struct {
			name string
			q    ExecutionQuery
			keep func(made) bool
		}{
			{"all", ExecutionQuery{Limit: 5}, func(made) bool { return true }},
			{"site", ExecutionQuery{Site: "qa", Limit: 2}, func(m made) bool { return m.site == "qa" }},
			{"app", ExecutionQuery{AppID: "app-1"}, func(m made) bool { return m.app == "app-1" }},
			{"name", ExecutionQuery{AppName: "budget 3"}, func(m made) bool { return m.app == "app-3" }},
			{"state", ExecutionQuery{State: "acted"}, func(m made) bool { return m.state == "acted" }},
			{"policy", ExecutionQuery{Policy: "tags", Limit: 1}, func(m made) bool { return slices.Contains(m.policies, "tags") }},
			{"policy and state", ExecutionQuery{Policy: "tags", State: "failed"}, func(m made) bool { return slices.Contains(m.policies, "tags") && m.state == "failed" }},
			{"started", ExecutionQuery{Since: t0.Add(3 * time.Minute), Until: t0.Add(6 * time.Minute)}, func(m made) bool {
				i := slices.IndexFunc(all, func(x made) bool { return x.id == m.id })
				return i >= 2 && i < 5
			}},
		} {
			got := list(tc.q)
			var want []string
			for i := len(all) - 1; i >= 0; i-- { // newest first
				if tc.keep(all[i]) {
					want = append(want, all[i].id)
				}
			}
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ID)
				if e.Event != nil || e.AppName == "" || e.StartedAt.IsZero() {
					t.Errorf("%s: listed %+v", tc.name, e)
				}
			}
			if !slices.Equal(ids, want) {
				t.Errorf("%s: %v, want %v", tc.name, ids, want)
			}
		}
	})
}
