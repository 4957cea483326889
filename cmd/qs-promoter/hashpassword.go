package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"
)

func init() {
	commands["hash-password"] = command{summary: "read a console password from standard input and print its bcrypt hash (for console.users)", run: runHashPassword}
}

// stdin is where hash-password reads (tests replace it).
var stdin io.Reader = os.Stdin

func runHashPassword(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hash-password", "hash-password [--cost N] < password.txt   (or type it: it is not shown)", stderr)
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt cost (10 to 14; each step doubles the time a check takes)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "hash-password takes no arguments: it reads the password from standard input, so that it stays out of the shell's history")
		return errUsage
	}
	if *cost < bcrypt.DefaultCost || *cost > 14 {
		fmt.Fprintf(stderr, "hash-password: --cost %d: use 10 to 14\n", *cost)
		return errUsage
	}
	password, err := readLine(stdin, stderr)
	if err != nil {
		return err
	}
	if password == "" {
		return errors.New("the password is empty")
	}
	if len(password) > 72 {
		return errors.New("the password is longer than 72 bytes, which bcrypt cannot take whole: use a shorter one")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), *cost)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(hash))
	return nil
}

// readLine reads one line: from a terminal without echo (asking for it
// on stderr), from a pipe as it comes; the line end (\n or \r\n) is not
// part of the password.
func readLine(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password (not shown): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}
