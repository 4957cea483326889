package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `qs-promoter demo` as a user would, and requires it to pass.
func TestDemo(t *testing.T) {
	t.Parallel() // alongside the scenarios: most of it is waiting
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := Run(ctx, RunOptions{Out: &out, Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"policy  alert-on-publish matched", "policy  promote-approved matched", "policy  deny matched",
		"policy  tag-promote-on-reload matched", "policy  promote-on-reload matched", "⋯ promote: site test: uploaded", "PASS: every outcome as expected"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the narration lacks %q:\n%s", want, out.String())
		}
	}
}
