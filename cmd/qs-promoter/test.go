package main

import (
	"context"
	"fmt"
	"io"

	"github.com/qs-promoter/qs-promoter/engine"
)

func init() {
	commands["test"] = command{summary: "run the policy tests (*_test.yaml beside the policies)", run: runTest}
}

func runTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("test", "test [--config FILE] [--sites a,b] [--policies DIR | DIR]", stderr)
	pf := addPolicyFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "test takes at most one folder")
		return errUsage
	}
	opts, dir, _, err := pf.options(fs.Arg(0))
	if err != nil {
		return printProblems(stdout, err)
	}
	// Actions are mocked: a policy test checks decisions, not side effects.
	failed, err := engine.RunTests(dir, opts, nil, stdout)
	if err != nil {
		return printProblems(stdout, err)
	}
	if failed > 0 {
		return exitError{1}
	}
	return nil
}
