package qrs_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qs-promoter/qs-promoter/qrs"
)

func TestFilterText(t *testing.T) {
	guid := "3b2c1e55-4a47-4c2b-9f1e-0a1b2c3d4e5f"
	for _, tc := range []struct {
		f    *qrs.Filter
		want string
	}{
		{qrs.Eq("name", "Sales"), `name eq 'Sales'`},
		{qrs.Eq("name", `x' or name sw '`), `name eq 'x\' or name sw \''`},
		{qrs.Eq("name", `a\b`), `name eq 'a\\b'`},
		{qrs.Eq("name", `\'`), `name eq '\\\''`},
		{qrs.Eq("id", qrs.GUID(guid)), `id eq ` + guid},
		{qrs.Eq("id", qrs.GUID(guid+" or 1 eq 1")), `id eq '` + guid + ` or 1 eq 1'`},
		{qrs.Eq("id", guid), `id eq '` + guid + `'`},
		{qrs.Eq("published", true), `published eq true`},
		{qrs.Ne("fileSize", 0), `fileSize ne 0`},
		{qrs.Gt("modifiedDate", time.Date(2026, 11, 27, 9, 30, 5, 118e6, time.FixedZone("CET", 3600))), `modifiedDate gt '2026-11-27T08:30:05.118Z'`},
		{qrs.Ge("fileSize", int64(5)), `fileSize ge 5`},
		{qrs.Lt("fileSize", 5), `fileSize lt 5`},
		{qrs.Le("fileSize", 5), `fileSize le 5`},
		{qrs.StartsWith("stream.name", "Rev"), `stream.name sw 'Rev'`},
		{qrs.EndsWith("name", "QA"), `name ew 'QA'`},
		{qrs.Contains("tags.name", "it's"), `tags.name so 'it\'s'`},
		{qrs.And(qrs.Eq("a", 1), qrs.Or(qrs.Eq("b", "x"), qrs.Eq("c", true))), `(a eq 1 and (b eq 'x' or c eq true))`},
		{qrs.And(nil, qrs.Eq("a", 1)), `a eq 1`},
		{qrs.And(), ``},
	} {
		if err := tc.f.Err(); err != nil {
			t.Errorf("%s: %v", tc.want, err)
		}
		if got := tc.f.String(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	if qrs.And() != nil {
		t.Error("And() is not nil (match everything)")
	}
}

func TestFilterErrors(t *testing.T) {
	c, rec := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("[]")) }, nil)
	for _, tc := range []struct {
		f    *qrs.Filter
		want string
	}{
		{qrs.Eq("name eq 'x' or name", "y"), "not a property path"},
		{qrs.Eq("name", 1.5), "not supported"},
		{qrs.And(qrs.Eq("a", 1), qrs.Eq("b)", 1)), "not a property path"},
		{qrs.Or(), "Or of no filters"},
	} {
		if err := tc.f.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.f, err, tc.want)
		}
		if _, err := c.Apps(context.Background(), tc.f); err == nil {
			t.Errorf("Apps with a bad filter: no error")
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d requests sent with bad filters", n)
	}
}

func TestFilterIsURLEncoded(t *testing.T) {
	c, rec := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("[]")) }, nil)
	value := `a&b=c#d+e %f'g`
	if _, err := c.Apps(context.Background(), qrs.Eq("name", value)); err != nil {
		t.Fatal(err)
	}
	r := rec.all()[0]
	if got, want := r.URL.Query().Get("filter"), qrs.Eq("name", value).String(); got != want {
		t.Errorf("server read filter %q, want %q", got, want)
	}
	if strings.Contains(r.URL.RawQuery, "+") {
		t.Errorf("query %q encodes spaces as +", r.URL.RawQuery)
	}
	if r.URL.Query().Get("xrfkey") == "" {
		t.Error("the filter cut off the xrfkey")
	}
}
