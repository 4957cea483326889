package qrssim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// Content is the identity of an app's file: two apps hold the same .qvf when
// their Content values are equal. It survives export, upload, copy and
// replace, so a test can tell which content ended where.
type Content struct {
	Size int64
	Hash string
}

// Generated content (what seeded apps hold) is a 64-byte header followed by a
// ChaCha8 stream keyed by the header, so a GiB-sized app costs no memory: the
// bytes are produced while they are sent and recognised while they arrive.
const (
	headerSize  = 64
	genMagic    = "QRSSIM1\n"
	flagNoData  = 1       // the content of an export without data
	memoryLimit = 4 << 20 // foreign uploads larger than this go to a temp file
)

// blob is one immutable app file. Apps share blobs (copy, replace).
type blob struct {
	id    Content
	gen   bool     // generated: seed, flags and id.Size define the bytes
	seed  [16]byte // generated only
	flags byte     // generated only
	data  []byte   // foreign content kept in memory
	file  string   // foreign content spilled to disk
}

// generatedBlob returns the generated content with this seed and size.
func generatedBlob(seed [16]byte, size int64, flags byte) *blob {
	if size < headerSize {
		size = headerSize
	}
	h := "sim:" + hex.EncodeToString(seed[:])
	if flags&flagNoData != 0 {
		h += ":nodata"
	}
	return &blob{id: Content{Size: size, Hash: h}, gen: true, seed: seed, flags: flags}
}

// seededBlob derives generated content from a stable string (site, app).
func seededBlob(key string, size int64) *blob {
	sum := sha256.Sum256([]byte(key))
	var seed [16]byte
	copy(seed[:], sum[:])
	return generatedBlob(seed, size, 0)
}

// withoutData is the content an export with skipData=true (or an upload with
// keepdata=false) yields: smaller, deterministic, and the same whichever of
// the two ways it was made.
func (b *blob) withoutData() *blob {
	if b.gen && b.flags&flagNoData != 0 {
		return b
	}
	sum := sha256.Sum256([]byte("nodata/" + b.id.Hash))
	var seed [16]byte
	copy(seed[:], sum[:])
	return generatedBlob(seed, headerSize+b.id.Size/16, flagNoData)
}

// open returns the content's bytes.
func (b *blob) open() (io.ReadCloser, error) {
	switch {
	case b.gen:
		return io.NopCloser(newGenReader(b)), nil
	case b.file != "":
		return os.Open(b.file)
	default:
		return io.NopCloser(bytes.NewReader(b.data)), nil
	}
}

// genReader produces the bytes of generated content.
type genReader struct {
	hdr  [headerSize]byte
	off  int64
	size int64
	rng  *rand.ChaCha8
}

func newGenReader(b *blob) *genReader {
	g := &genReader{size: b.id.Size}
	copy(g.hdr[:], genMagic)
	copy(g.hdr[8:24], b.seed[:])
	binary.BigEndian.PutUint64(g.hdr[24:32], uint64(b.id.Size))
	g.hdr[32] = b.flags
	g.rng = rand.NewChaCha8(sha256.Sum256(g.hdr[:]))
	return g
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	if rem := g.size - g.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	if g.off < headerSize {
		n = copy(p, g.hdr[g.off:])
	}
	if n < len(p) {
		g.rng.Read(p[n:]) // never fails
	}
	g.off += int64(len(p))
	return len(p), nil
}

// parseHeader recognises the header of generated content.
func parseHeader(h []byte) (*blob, bool) {
	if len(h) < headerSize || string(h[:8]) != genMagic {
		return nil, false
	}
	var seed [16]byte
	copy(seed[:], h[8:24])
	size := int64(binary.BigEndian.Uint64(h[24:32]))
	if size < headerSize || size > 1<<50 {
		return nil, false
	}
	return generatedBlob(seed, size, h[32]), true
}

// contentStore receives uploads. Generated content is recognised while it
// streams in (bounded memory, nothing stored); anything else is hashed and
// kept, in memory when small and in a temp file otherwise.
type contentStore struct {
	dir func() (string, error) // the folder for spilled uploads
}

// receive reads an upload to its end and returns its content.
func (cs *contentStore) receive(r io.Reader) (*blob, error) {
	var hdr [headerSize]byte
	n, err := io.ReadFull(r, hdr[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if cand, ok := parseHeader(hdr[:n]); ok && newGenReader(cand).hdr == hdr {
		return cs.verify(cand, r)
	}
	return cs.foreign(bytes.NewReader(hdr[:n]), r)
}

// verify compares the rest of an upload with the generated content its
// header announces; on the first difference it falls back to storing the
// upload as foreign content (the matched prefix is regenerated, not kept).
func (cs *contentStore) verify(cand *blob, r io.Reader) (*blob, error) {
	g := newGenReader(cand)
	g.off = headerSize // the header matched; the body stream starts here
	matched := int64(headerSize)
	buf := make([]byte, 32<<10)
	want := make([]byte, len(buf))
	for {
		n, err := r.Read(buf)
		if n > 0 {
			wn, _ := io.ReadFull(g, want[:n])
			if wn != n || !bytes.Equal(buf[:n], want[:n]) {
				return cs.fallback(cand, matched, buf[:n], r)
			}
			matched += int64(n)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if matched != cand.id.Size {
		return cs.fallback(cand, matched, nil, r)
	}
	return cand, nil
}

func (cs *contentStore) fallback(cand *blob, matched int64, pending []byte, rest io.Reader) (*blob, error) {
	prefix := io.LimitReader(newGenReader(cand), matched)
	return cs.foreign(io.MultiReader(prefix, bytes.NewReader(pending)), rest)
}

// foreign stores content the simulator did not generate.
func (cs *contentStore) foreign(parts ...io.Reader) (*blob, error) {
	h := sha256.New()
	var mem bytes.Buffer
	r := io.TeeReader(io.MultiReader(parts...), h)
	if _, err := io.CopyN(&mem, r, memoryLimit+1); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	b := &blob{}
	if mem.Len() <= memoryLimit {
		b.data = mem.Bytes()
		b.id.Size = int64(mem.Len())
	} else {
		dir, err := cs.dir()
		if err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(dir, "upload-*.qvf")
		if err != nil {
			return nil, err
		}
		n, err := io.Copy(f, io.MultiReader(&mem, r))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.Name())
			return nil, err
		}
		b.file, b.id.Size = f.Name(), n
	}
	b.id.Hash = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return b, nil
}

// throttledReader caps the rate of a content transfer (fault injection):
// its own rate, and its share of the site's link.
type throttledReader struct {
	ctx   context.Context
	r     io.Reader
	bps   func() int64 // read at every call so a test can change it mid-transfer
	link  *link
	start time.Time
	total int64
}

func (t *throttledReader) Read(p []byte) (int, error) {
	bps, lbps := t.bps(), t.link.rate()
	if bps <= 0 && lbps <= 0 {
		return t.r.Read(p)
	}
	// Small chunks keep the pace even and the link's sharing fair.
	for _, rate := range []int64{bps, lbps} {
		if lim := max(rate/50, 512); rate > 0 && int64(len(p)) > lim {
			p = p[:lim]
		}
	}
	n, err := t.r.Read(p)
	var due time.Time
	if bps > 0 {
		if t.start.IsZero() {
			t.start = time.Now()
		}
		t.total += int64(n)
		due = t.start.Add(time.Duration(float64(t.total) / float64(bps) * float64(time.Second)))
	}
	if lbps > 0 && n > 0 {
		if at := t.link.take(int64(n), lbps); at.After(due) {
			due = at
		}
	}
	if d := time.Until(due); d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-t.ctx.Done():
			return n, t.ctx.Err()
		}
	}
	return n, err
}

// link is a site's shared bandwidth: transfers take turns on it, chunk by
// chunk, in the order they ask.
type link struct {
	rate func() int64 // bytes per second; 0: unlimited
	mu   sync.Mutex
	next time.Time // when the link is free again
}

// linkSlack is how far behind the link's schedule may fall before idle time
// is lost: a sleep that overshoots does not slow the link down.
const linkSlack = 20 * time.Millisecond

// take books n bytes on the link and returns when they have passed.
func (l *link) take(n, rate int64) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := l.next
	if earliest := time.Now().Add(-linkSlack); start.Before(earliest) {
		start = earliest
	}
	l.next = start.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
	return l.next
}

// countingReader adds what it reads to a counter.
type countingReader struct {
	r   io.Reader
	add func(int64)
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.add(int64(n))
	}
	return n, err
}
