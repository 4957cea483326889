package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/qs-promoter/qs-promoter/store"
)

// hash-password prints only the bcrypt hash of the line it reads, without
// its line end.
func TestHashPassword(t *testing.T) {
	for _, in := range []string{"correct horse\n", "correct horse\r\n", "correct horse"} {
		stdin = strings.NewReader(in)
		code, out, errOut := runCmd(t, "hash-password")
		hash := strings.TrimSpace(out)
		if code != 0 || strings.Count(out, "\n") != 1 || bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")) != nil {
			t.Errorf("hash-password of %q: %d %q %q", in, code, out, errOut)
		}
		if c, _ := bcrypt.Cost([]byte(hash)); c != bcrypt.DefaultCost {
			t.Errorf("cost %d", c)
		}
	}
	stdin = strings.NewReader("\n")
	if code, _, errOut := runCmd(t, "hash-password"); code != 1 || !strings.Contains(errOut, "the password is empty") {
		t.Errorf("empty: %d %s", code, errOut)
	}
	if code, _, _ := runCmd(t, "hash-password", "secret"); code != 2 {
		t.Errorf("a password as an argument: %d", code)
	}
	stdin = os.Stdin
}

// audit export reads the records beside a running daemon (its store open),
// as CSV or JSONL, from the day given.
func TestAuditExport(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "qs-promoter.yaml")
	if err := os.WriteFile(cfgPath, []byte("sites: [{alias: dev, host: qlik-dev.example.com}]\nstate_dir: state\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Dir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close() // the daemon keeps it open meanwhile
	recs := []store.AuditRecord{}
	for i, day := range []string{"2026-11-28", "2026-11-29", "2026-11-30"} {
		at, _ := time.Parse("2006-01-02", day)
		recs = append(recs, store.AuditRecord{Time: at.Add(9 * time.Hour), Type: "decision", Site: "dev", AppID: "a", AppName: "Sales " + day,
			User: `CORP\u`, Policies: []string{"promote-approved"}, Outcome: "acted", ExecutionID: "e" + string(rune('0'+i))})
	}
	if err := st.AppendAudit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "audit", "export", "--config", cfgPath, "--since", "2026-11-29")
	if code != 0 {
		t.Fatalf("export: %d %s", code, errOut)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "id" || rows[1][7] != "Sales 2026-11-29" || rows[2][7] != "Sales 2026-11-30" || rows[1][9] != "promote-approved" {
		t.Errorf("csv export: %v\n%s", err, out)
	}
	code, out, _ = runCmd(t, "audit", "export", "--config", cfgPath, "--since", "2026-11-28", "--until", "2026-11-28", "--format", "jsonl")
	var rec map[string]any
	if code != 0 || strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &rec) != nil || rec["app_name"] != "Sales 2026-11-28" {
		t.Errorf("jsonl export: %d %q", code, out)
	}
	outFile := filepath.Join(dir, "audit.csv")
	if code, _, errOut := runCmd(t, "audit", "export", "--config", cfgPath, "--since", "2026-01-01", "--out", outFile); code != 0 || !strings.Contains(errOut, "wrote 3 audit records") {
		t.Errorf("--out: %d %s", code, errOut)
	}
	for _, args := range [][]string{{"audit"}, {"audit", "export", "--config", cfgPath}, {"audit", "export", "--config", cfgPath, "--since", "yesterday"},
		{"audit", "export", "--config", cfgPath, "--since", "2026-01-01", "--format", "xml"}} {
		if code, _, _ := runCmd(t, args...); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}
