package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// spool is an export copied to one temporary file, so that it can be read
// several times (one upload per site, retries) while the export itself is
// downloaded once. It can be read while it fills: an upload follows the
// export as it arrives instead of waiting for its end, so a site's link is
// busy from the first bytes. Close removes the file; callers defer it right
// away, so it goes on errors, panics and cancellation alike.
type spool struct {
	f       *os.File
	want    int64         // the size the export announced; -1 unknown
	src     io.Closer     // the export being copied
	stop    func()        // ends the copy early
	ended   chan struct{} // closed when the copy has ended
	onClose func()        // gives the spool's room back to the budget

	mu     sync.Mutex
	grew   *sync.Cond
	size   int64 // bytes on disk; all of them once filled
	filled bool
	err    error // why the copy failed (once filled)
}

// spoolStart starts copying src, an export of size bytes (-1: unknown),
// into a new temporary file in dir, and returns at once; the spool owns src
// and closes it. progress is called with the bytes copied so far now and
// then, done once when the copy ends (n bytes; err when it failed), before
// readers see the end. The copy stops when ctx ends.
func spoolStart(ctx context.Context, dir string, src io.ReadCloser, size int64, progress func(n int64), done func(n int64, err error)) (*spool, error) {
	f, err := os.CreateTemp(dir, "qs-promoter-export-*.qvf")
	if err != nil {
		_ = src.Close()
		return nil, fmt.Errorf("creating a temporary file for the export (set the temporary directory to one with room for the app): %w", err)
	}
	// The name is not needed once open: removing it now leaves nothing
	// behind even if the process is killed (where the system allows it; on
	// Windows Close removes it).
	_ = os.Remove(f.Name())
	ctx, cancel := context.WithCancel(ctx)
	s := &spool{f: f, want: size, src: src, stop: cancel, ended: make(chan struct{})}
	s.grew = sync.NewCond(&s.mu)
	go func() {
		defer close(s.ended)
		n, err := io.Copy(&spoolWriter{s: s}, &ctxReader{ctx: ctx, r: src, progress: progress})
		_ = src.Close()
		if err == nil && size >= 0 && n != size {
			err = fmt.Errorf("the export announced %d bytes and sent %d", size, n)
		}
		if err != nil {
			err = fmt.Errorf("spooling the export to %s: %w", f.Name(), err)
		}
		if done != nil {
			done(n, err)
		}
		s.mu.Lock()
		s.filled, s.err = true, err
		s.grew.Broadcast()
		s.mu.Unlock()
	}()
	return s, nil
}

// spoolCopy copies r into a new temporary file in dir and returns once it
// is all there.
func spoolCopy(ctx context.Context, dir string, r io.Reader, progress func(n int64)) (*spool, error) {
	s, err := spoolStart(ctx, dir, io.NopCloser(r), -1, progress, nil)
	if err != nil {
		return nil, err
	}
	if err := s.wait(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// spoolWriter appends to the file and wakes the readers.
type spoolWriter struct{ s *spool }

func (w *spoolWriter) Write(p []byte) (int, error) {
	n, err := w.s.f.Write(p)
	w.s.mu.Lock()
	w.s.size += int64(n)
	w.s.grew.Broadcast()
	w.s.mu.Unlock()
	return n, err
}

// wait returns when the whole export is spooled, or why it could not be.
func (s *spool) wait() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.filled {
		s.grew.Wait()
	}
	return s.err
}

// failed returns why the copy failed; nil while it goes on or when it succeeded.
func (s *spool) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Expected is the export's size before it is all spooled: the size it
// announced (-1 when it did not), or once spooled, its size.
func (s *spool) Expected() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.filled {
		return s.size
	}
	return s.want
}

// Size is the number of bytes spooled so far (all of them once the copy
// has ended: see wait).
func (s *spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Reader returns an independent reader over the whole export, which waits
// for bytes not spooled yet; several may be read at once. It seeks (a
// retried upload reads it again), and ends with the copy's error should the
// export fail.
func (s *spool) Reader() *spoolReader { return &spoolReader{s: s} }

// Close stops the copy if it still runs, then closes and removes the file.
func (s *spool) Close() error {
	s.stop()
	_ = s.src.Close() // unblocks a copy waiting for the network
	<-s.ended
	err := s.f.Close()
	if s.onClose != nil {
		s.onClose()
	}
	if rerr := os.Remove(s.f.Name()); rerr != nil && !os.IsNotExist(rerr) && err == nil {
		err = rerr
	}
	return err
}

// spoolReader reads a spool from an offset, waiting for it to fill.
type spoolReader struct {
	s   *spool
	off int64
}

func (r *spoolReader) Read(p []byte) (int, error) {
	s := r.s
	s.mu.Lock()
	for r.off >= s.size && !s.filled {
		s.grew.Wait()
	}
	avail, err := s.size, s.err
	s.mu.Unlock()
	if r.off >= avail {
		if err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if left := avail - r.off; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := s.f.ReadAt(p, r.off)
	r.off += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil
	}
	return n, err
}

// Seek moves within the export; from its end only once its size is known.
// It fails once the copy has failed: reading again would not help.
func (r *spoolReader) Seek(offset int64, whence int) (int64, error) {
	if err := r.s.failed(); err != nil {
		return r.off, err
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		size := r.s.Expected()
		if size < 0 {
			return r.off, errors.New("the export's size is not known yet")
		}
		offset += size
	default:
		return r.off, errors.New("seek: bad whence")
	}
	if offset < 0 {
		return r.off, errors.New("seek: negative position")
	}
	r.off = offset
	return offset, nil
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
