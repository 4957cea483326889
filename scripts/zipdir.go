//go:build ignore

// zipdir writes DIR into a zip archive as DIR's base name and below, with
// one modification time for every entry, so the same files give the same
// archive (scripts/release.sh; a machine need not have zip installed).
//
//	go run scripts/zipdir.go [-time UNIX] OUT.zip DIR
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

func main() {
	mtime := flag.Int64("time", 0, "modification time of every entry (Unix seconds); default now")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run scripts/zipdir.go [-time UNIX] OUT.zip DIR")
		os.Exit(2)
	}
	t := time.Now()
	if *mtime != 0 {
		t = time.Unix(*mtime, 0)
	}
	if err := zipDir(flag.Arg(0), flag.Arg(1), t); err != nil {
		fmt.Fprintln(os.Stderr, "zipdir:", err)
		os.Exit(1)
	}
}

func zipDir(out, dir string, t time.Time) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	base := filepath.Dir(filepath.Clean(dir))
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		h.Modified = t.UTC()
		if d.IsDir() {
			h.Name += "/"
			_, err = zw.CreateHeader(h)
			return err
		}
		h.Method = zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(w, src)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
