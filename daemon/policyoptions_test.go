package daemon

import (
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/qs-promoter/qs-promoter/engine"
)

// Without a configuration (check and test in CI) the shipped policies read
// the same config.<key>, of the same types, as the daemon with one: every
// key is typed by the policy files' declarations or is built in.
func TestPolicyOptionsTypeConfigAsServeDoes(t *testing.T) {
	cfg, err := ParseConfig("c.yaml", []byte("sites: [{alias: dev, host: h}, {alias: test, host: h}]\nsmtp: {host: mail, from: a@b.c, tls: none}\nvars: {auto_unpublish: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	served, err := engine.Load("../policies", PolicyOptions(cfg, nil))
	if err != nil {
		t.Fatal(err)
	}
	checked, err := engine.Load("../policies", PolicyOptions(nil, []string{"test", "prod"}))
	if err != nil {
		t.Fatal(err)
	}
	a, b := served.Config(), checked.Config()
	if ka, kb := slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b)); !slices.Equal(ka, kb) || len(ka) < 16 {
		t.Fatalf("keys differ:\nserve %v\ncheck %v", ka, kb)
	}
	for k, v := range a {
		if reflect.TypeOf(v) != reflect.TypeOf(b[k]) {
			t.Errorf("config.%s: %T with a configuration, %T without", k, v, b[k])
		}
	}
	if a["auto_unpublish"] != false || b["auto_unpublish"] != true || a["mail_enabled"] != true || a["s3_enabled"] != false {
		t.Errorf("values: serve %v, check %v", a, b)
	}
	if s := a["sites"].([]string); !slices.Equal(s, []string{"dev", "test"}) {
		t.Errorf("sites %v", s)
	}
}
