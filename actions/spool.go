package actions

import (
	"context"
	"fmt"
	"io"
	"os"
)

// spool is an export copied to one temporary file, so that it can be read
// several times (one upload per site, retries) while the export itself is
// downloaded once. Close removes the file; callers defer it right away, so
// it goes on errors, panics and cancellation alike.
type spool struct {
	f       *os.File
	size    int64
	onClose func() // gives the spool's room back to the budget
}

// spoolCopy copies r into a new temporary file in dir, calling progress
// with the bytes copied so far now and then. The copy stops when ctx ends.
func spoolCopy(ctx context.Context, dir string, r io.Reader, progress func(n int64)) (*spool, error) {
	f, err := os.CreateTemp(dir, "qs-promoter-export-*.qvf")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file for the export (set the temporary directory to one with room for the app): %w", err)
	}
	// The name is not needed once open: removing it now leaves nothing
	// behind even if the process is killed (where the system allows it; on
	// Windows Close removes it).
	_ = os.Remove(f.Name())
	s := &spool{f: f}
	n, err := io.Copy(f, &ctxReader{ctx: ctx, r: r, progress: progress})
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("spooling the export to %s: %w", f.Name(), err)
	}
	s.size = n
	return s, nil
}

// Reader returns an independent reader over the whole spooled file; several
// may be read at once.
func (s *spool) Reader() *io.SectionReader { return io.NewSectionReader(s.f, 0, s.size) }

// Size is the number of bytes spooled.
func (s *spool) Size() int64 { return s.size }

// Close closes and removes the file.
func (s *spool) Close() error {
	err := s.f.Close()
	if s.onClose != nil {
		s.onClose()
	}
	if rerr := os.Remove(s.f.Name()); rerr != nil && !os.IsNotExist(rerr) && err == nil {
		err = rerr
	}
	return err
}

// ctxReader stops reading when ctx ends and reports progress.
type ctxReader struct {
	ctx      context.Context
	r        io.Reader
	n        int64
	progress func(n int64)
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil {
		c.progress(c.n)
	}
	return n, err
}
