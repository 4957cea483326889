package qspromoter_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	qspromoter "github.com/qs-promoter/qs-promoter"
	"github.com/qs-promoter/qs-promoter/daemon"
	"github.com/qs-promoter/qs-promoter/engine"
)

// The starter configuration loads as it is, with the shipped policies, and
// so does every commented-out key once uncommented: the file stays true to
// what the daemon accepts.
func TestExampleConfigLoads(t *testing.T) {
	if b, err := os.ReadFile("qs-promoter.example.yaml"); err != nil || string(b) != string(qspromoter.ExampleConfig) {
		t.Fatalf("the embedded example differs from the file: %v", err)
	}
	for name, text := range map[string]string{"as shipped": string(qspromoter.ExampleConfig), "uncommented": uncomment(string(qspromoter.ExampleConfig))} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("SMTP_PASSWORD", "secret")
			t.Setenv("QSP_TEAMS_URL", "https://example.com/workflows/hook")
			t.Setenv("QSP_DATABASE_URL", "postgres://qs_promoter:secret@db.company.com:5432/qs_promoter")
			if err := os.WriteFile(filepath.Join(dir, "approvers.csv"), []byte("StreamID, ApprovalEmailAddress\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := daemon.ParseConfig(filepath.Join(dir, "qs-promoter.yaml"), []byte(text))
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			if got := strings.Join(cfg.SiteAliases(), ","); got != "dev,test,prod" {
				t.Errorf("sites %s", got)
			}
			opts := daemon.PolicyOptions(cfg, nil)
			if name == "uncommented" && (len(opts.Vars) != 19 || len(cfg.Webhooks) != 1 || cfg.SMTP == nil || cfg.S3 == nil || cfg.Audit.Keep != 10) {
				t.Errorf("uncommented, the example sets %d vars, smtp %v, s3 %v, audit %+v", len(opts.Vars), cfg.SMTP, cfg.S3, cfg.Audit)
			}
			if _, err := engine.Load("policies", opts); err != nil {
				t.Errorf("the shipped policies do not load with it: %v", err)
			}
		})
	}
}

// uncomment turns "# key: value" lines (and the mappings they belong to)
// into YAML, keeping comments after the value.
func uncomment(text string) string {
	key := regexp.MustCompile(`^(\s*)# ( *(?:- )?[a-z_0-9]+:(?: .*)?)$`)
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if m := key.FindStringSubmatch(line); m != nil {
			line = m[1] + m[2]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// Every configuration key is shown in the starter file, so an admin reads
// every option and its default there.
func TestExampleConfigShowsEveryKey(t *testing.T) {
	text := uncomment(string(qspromoter.ExampleConfig))
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !regexp.MustCompile(`(?m)^\s*(#[ #]*)?(- )?` + name + `:`).MatchString(text) {
				t.Errorf("qs-promoter.example.yaml does not show %s%s", prefix, name)
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Time{}) {
				walk(prefix+name+".", ft)
			}
		}
	}
	walk("", reflect.TypeOf(daemon.Config{}))
}

// The embedded policies are the files of policies/.
func TestEmbeddedPolicies(t *testing.T) {
	var names []string
	entries, err := os.ReadDir("policies")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	names = append(names, "testdata/published-to-review.json")
	if err := fstest.TestFS(qspromoter.Policies, names...); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "30-approval.yaml") {
		t.Errorf("policies/ lacks 30-approval.yaml: %v", names)
	}
}
