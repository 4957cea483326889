package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	qspromoter "github.com/qs-promoter/qs-promoter"
	"github.com/qs-promoter/qs-promoter/daemon"
)

func init() {
	commands["init"] = command{summary: "lay out an installation: the starter configuration, certificate folders and the shipped policies", run: runInit}
}

// runInit writes the starter layout into a folder. It never overwrites a
// file: what exists is kept and named, so running it again is harmless.
func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("init", "init [DIR]", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "qs-promoter init: one folder at most, got %q\n", fs.Args())
		return errUsage
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	files, err := starterLayout()
	if err != nil {
		return err
	}
	wrote, kept := 0, 0
	for _, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(f.path))
		switch done, err := writeNew(path, f.data, f.mode); {
		case err != nil:
			return err
		case done:
			wrote++
		default:
			kept++
			fmt.Fprintf(stdout, "kept %s (it exists)\n", path)
		}
	}
	fmt.Fprintf(stdout, "wrote %d files to %s", wrote, dir)
	if kept > 0 {
		fmt.Fprintf(stdout, " (%d kept as they were)", kept)
	}
	cfg := filepath.Join(dir, "qs-promoter.yaml")
	fmt.Fprintf(stdout, `

Next steps:
  1. Export each site's certificates from its QMC into %[1]s/<alias>/
     (the README.md in each folder says exactly which files).
  2. Edit %[2]s: the hosts of your sites, callback_url, smtp (optional).
  3. Create the custom properties and the tag on the watched site (README: "Going live", step 3).
  4. qs-promoter check --config %[2]s --connect
  5. qs-promoter dry-run --config %[2]s --live --app "<an app>"   (read-only)
  6. qs-promoter service install --config %[2]s   (as an administrator / root)
`, filepath.Join(dir, "certs"), cfg)
	return nil
}

// starterFile is one file of the layout init writes.
type starterFile struct {
	path string // slash-separated, relative to the folder
	data []byte
	mode os.FileMode
}

// starterLayout is what init writes: the embedded starter configuration,
// a certs/<alias>/README.md for each of its sites, and the shipped policies
// with their tests.
func starterLayout() ([]starterFile, error) {
	files := []starterFile{{path: "qs-promoter.yaml", data: qspromoter.ExampleConfig, mode: 0o640}}
	cfg, err := daemon.ParseConfig("qs-promoter.yaml", qspromoter.ExampleConfig)
	if cfg == nil {
		return nil, fmt.Errorf("the embedded starter configuration: %w", err)
	}
	for _, s := range cfg.Sites {
		files = append(files, starterFile{path: "certs/" + s.Alias + "/README.md", data: []byte(certsReadme(s.Alias)), mode: 0o644})
	}
	err = fs.WalkDir(qspromoter.Policies, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(qspromoter.Policies, p)
		files = append(files, starterFile{path: "policies/" + p, data: data, mode: 0o644})
		return err
	})
	return files, err
}

// writeNew creates path with data unless it exists; done says it wrote.
// Certificate folders are private to the service account.
func writeNew(path string, data []byte, mode os.FileMode) (done bool, err error) {
	dirMode := os.FileMode(0o755)
	if strings.Contains(filepath.ToSlash(path), "/certs/") || strings.HasPrefix(filepath.ToSlash(path), "certs/") {
		dirMode = 0o700
	}
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}

// certsReadme says which QMC export goes into certs/<alias>/.
func certsReadme(alias string) string {
	return strings.ReplaceAll(`# Certificates of site ALIAS

qs-promoter talks to the QRS of site ALIAS on port 4242 with the certificates that site's QMC exports.
Put exactly these three files here:

    client.pem       the client certificate
    client_key.pem   its private key
    root.pem         the CA that signed the site's server certificate (qs-promoter verifies the server with it)

How to export them, in the QMC of site ALIAS:

1. Certificates → Add machine name: the name of the machine that runs qs-promoter.
2. Certificate password: leave it empty.
3. Include secret key: checked. File format for certificates: Platform independent PEM-format.
4. Export certificates. The files are written on the Qlik server to
   C:\ProgramData\Qlik\Sense\Repository\Exported Certificates\<machine name>\
5. Copy client.pem, client_key.pem and root.pem from there into this folder.

client_key.pem grants administrator rights on site ALIAS: keep this folder readable only by the account
that runs qs-promoter, and out of version control. Then run
qs-promoter check --config qs-promoter.yaml --connect
`, "ALIAS", alias)
}
