package main

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestReleaseArchives checks what scripts/release.sh made: .ci/run runs it
// and sets QSP_RELEASE_DIR and QSP_RELEASE_VERSION (a release build
// compiles everything for each target, too slow for every test run), and
// QSP_RELEASE_TARGETS when it builds fewer than all three (CI leaves out
// linux/arm64, the one target no other CI step compiles). Each archive is listed in SHA256SUMS with its sum and holds the
// binary, the README, the licence, the starter layout and the deploy files;
// the binary for this machine prints the stamped version.
func TestReleaseArchives(t *testing.T) {
	dir, version := os.Getenv("QSP_RELEASE_DIR"), os.Getenv("QSP_RELEASE_VERSION")
	if dir == "" || version == "" {
		t.Skip("run scripts/release.sh VERSION and set QSP_RELEASE_DIR and QSP_RELEASE_VERSION (.ci/run does)")
	}
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		listed[name] = sum
	}
	targets := []string{"windows-amd64", "linux-amd64", "linux-arm64"}
	if t := os.Getenv("QSP_RELEASE_TARGETS"); t != "" {
		targets = strings.Fields(strings.ReplaceAll(t, "/", "-"))
	}
	for _, target := range targets {
		name := "qs-promoter-" + version + "-" + target
		zipPath := filepath.Join(dir, name+".zip")
		b, err := os.ReadFile(zipPath)
		if err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		sum := sha256.Sum256(b)
		if listed[name+".zip"] != hex.EncodeToString(sum[:]) {
			t.Errorf("%s.zip: SHA256SUMS says %q, the file's sum is %x", name, listed[name+".zip"], sum)
		}
		zr, err := zip.OpenReader(zipPath)
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, f := range zr.File {
			files = append(files, f.Name)
		}
		exe := "qs-promoter"
		if strings.HasPrefix(target, "windows") {
			exe += ".exe"
		}
		want := []string{exe, "README.md", "LICENSE", "certs/README.md", "policies/30-approval.yaml", "policies/workflow_test.yaml", "qs-promoter.yaml", "certs/prod/README.md", "deploy/grafana/qs-promoter.json"}
		if strings.HasPrefix(target, "linux") {
			want = append(want, "deploy/qs-promoter.service")
		}
		for _, w := range want {
			if !slices.Contains(files, name+"/"+w) {
				t.Errorf("%s.zip lacks %s/%s (it holds %v)", name, name, w, files)
			}
		}
		if target == runtime.GOOS+"-"+runtime.GOARCH {
			runStamped(t, zr, name+"/"+exe, version)
		}
		zr.Close()
	}
}

// runStamped extracts the binary and checks `version` prints the version.
func runStamped(t *testing.T, zr *zip.ReadCloser, name, version string) {
	t.Helper()
	f, err := zr.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	path := filepath.Join(t.TempDir(), "qs-promoter")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, f); err != nil {
		t.Fatal(err)
	}
	out.Close()
	b, err := exec.Command(path, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(b), version) {
		t.Errorf("%s version: %q %v, want it to print %s", name, b, err, version)
	}
}
