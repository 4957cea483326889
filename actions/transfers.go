package actions

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Transfers bounds what promotions really share, so that many can run at
// once without one slow link holding back the others: app files moving
// over a site's link (uploads to it and exports from it, MaxTransfers of
// each at once), and the disk that spooled exports fill (a budget). Every
// wait is first come, first served: a promotion is never overtaken for
// good, and none holds one site's slot while it waits for another's, so a
// promotion to a fast site finishes while the slow site's queue drains.
//
// The limits hold within one process; replicas each keep their own.
type Transfers struct {
	uploads map[string]*slots // by lower-case site alias
	exports map[string]*slots
	spool   *spoolBudget
}

// TransferLimits configures NewTransfers.
type TransferLimits struct {
	// MaxTransfers is, per site alias, how many uploads to the site and how
	// many exports from it run at once (each; default 2).
	MaxTransfers map[string]int
	// SpoolDir is where exports are spooled (its disk's free space is checked).
	SpoolDir string
	// SpoolMax caps the bytes spooled at once (0: no cap but the disk's).
	SpoolMax int64
	// SpoolMinFree is what spools leave free on SpoolDir's disk.
	SpoolMinFree int64
	// FreeSpace reports the free bytes of a folder's disk (tests); nil: the disk's own.
	FreeSpace func(dir string) (int64, error)
}

// DefaultMaxTransfers is how many uploads to a site (and exports from it)
// run at once when the configuration does not say.
const DefaultMaxTransfers = 2

// NewTransfers returns the limits for the configured sites.
func NewTransfers(l TransferLimits) *Transfers {
	t := &Transfers{uploads: map[string]*slots{}, exports: map[string]*slots{}}
	for alias, n := range l.MaxTransfers {
		if n <= 0 {
			n = DefaultMaxTransfers
		}
		t.uploads[strings.ToLower(alias)] = newSlots(n)
		t.exports[strings.ToLower(alias)] = newSlots(n)
	}
	free := l.FreeSpace
	if free == nil {
		free = freeSpace
	}
	t.spool = &spoolBudget{dir: l.SpoolDir, max: l.SpoolMax, minFree: l.SpoolMinFree, free: free, recheck: time.Second}
	return t
}

// upload waits for an upload slot on site; release it when the upload ends.
// waiting, when called, says how many are ahead (once, when it must wait).
func (t *Transfers) upload(ctx context.Context, site string, waiting func(ahead int)) (release func(), err error) {
	if t == nil {
		return func() {}, nil
	}
	return t.uploads[strings.ToLower(site)].acquire(ctx, waiting)
}

// export waits for an export slot on the source site.
func (t *Transfers) export(ctx context.Context, site string, waiting func(ahead int)) (release func(), err error) {
	if t == nil {
		return func() {}, nil
	}
	return t.exports[strings.ToLower(site)].acquire(ctx, waiting)
}

// reserveSpool waits until size bytes (an estimate; 0 when unknown) fit in
// the spool budget. It fails at once when they could never fit.
func (t *Transfers) reserveSpool(ctx context.Context, size int64, waiting func(why string)) (*spoolReservation, error) {
	if t == nil {
		return nil, nil
	}
	return t.spool.reserve(ctx, size, waiting)
}

// SpoolHeld returns the bytes reserved for spools now and the most ever
// reserved at once (for tests and benchmarks).
func (t *Transfers) SpoolHeld() (now, peak int64) {
	if t == nil {
		return 0, 0
	}
	t.spool.mu.Lock()
	defer t.spool.mu.Unlock()
	return t.spool.reserved, t.spool.peak
}

// slots is a counting semaphore that serves its waiters in arrival order.
// A nil *slots has no limit.
type slots struct {
	mu    sync.Mutex
	free  int
	queue []chan struct{} // waiters, first first; a waiter is handed its slot by closing its channel
}

func newSlots(n int) *slots { return &slots{free: n} }

func (s *slots) acquire(ctx context.Context, waiting func(ahead int)) (func(), error) {
	if s == nil {
		return func() {}, nil
	}
	s.mu.Lock()
	if s.free > 0 && len(s.queue) == 0 {
		s.free--
		s.mu.Unlock()
		return s.release, nil
	}
	ch := make(chan struct{})
	s.queue = append(s.queue, ch)
	ahead := len(s.queue) - 1
	s.mu.Unlock()
	if waiting != nil {
		waiting(ahead)
	}
	select {
	case <-ch:
		return s.release, nil
	case <-ctx.Done():
		s.mu.Lock()
		for i, w := range s.queue {
			if w == ch {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				s.mu.Unlock()
				return nil, ctx.Err()
			}
		}
		s.mu.Unlock()
		s.release() // handed a slot just as ctx ended: pass it on
		return nil, ctx.Err()
	}
}

func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		close(s.queue[0]) // the slot passes straight to the first waiter
		s.queue = s.queue[1:]
		return
	}
	s.free++
}

// spoolBudget admits spools while they fit: under max, and leaving minFree
// free on the disk. The disk's free space already lacks what live spools
// have written; what they have reserved but not yet written is counted
// against it. Waiters are admitted in arrival order; the head is checked
// again when a spool goes and every recheck while someone waits (other
// programs free disk space too).
type spoolBudget struct {
	dir     string
	max     int64
	minFree int64
	free    func(dir string) (int64, error)
	recheck time.Duration

	mu       sync.Mutex
	reserved int64 // by live reservations
	written  int64 // of it, already on disk
	peak     int64
	queue    []*spoolWaiter
}

type spoolWaiter struct {
	size  int64
	ready chan error // nil: admitted
}

// spoolReservation is one spool's share of the budget.
type spoolReservation struct {
	b       *spoolBudget
	mu      sync.Mutex
	size    int64
	written int64
	done    bool
}

// room says whether size more bytes fit now, and why not.
func (b *spoolBudget) room(size int64) (bool, string, error) {
	if b.max > 0 && b.reserved+size > b.max {
		return false, fmt.Sprintf("spools hold %s of the %s spool.max_mb allows", bytesText(b.reserved), bytesText(b.max)), nil
	}
	free, err := b.free(b.dir)
	if err != nil {
		return false, "", fmt.Errorf("checking the free space for spooling exports in %s: %w", b.dir, err)
	}
	if left := free - (b.reserved - b.written) - size; left < b.minFree {
		return false, fmt.Sprintf("%s has %s free and %s of it is promised to spools being written; spool.min_free_mb keeps %s",
			b.dir, bytesText(free), bytesText(b.reserved-b.written), bytesText(b.minFree)), nil
	}
	return true, "", nil
}

func (b *spoolBudget) reserve(ctx context.Context, size int64, waiting func(why string)) (*spoolReservation, error) {
	size = max(size, 0)
	b.mu.Lock()
	if len(b.queue) == 0 {
		ok, why, err := b.room(size)
		if err != nil {
			b.mu.Unlock()
			return nil, err
		}
		if ok {
			r := b.admit(size)
			b.mu.Unlock()
			return r, nil
		}
		if b.reserved == 0 {
			// Nothing to wait for: no spool will free room.
			b.mu.Unlock()
			return nil, fmt.Errorf("an export of %s does not fit: %s (free disk space in state_dir, or lower spool.min_free_mb)", bytesText(size), why)
		}
		if waiting != nil {
			waiting(why)
		}
	}
	if len(b.queue) > 0 && waiting != nil {
		waiting(fmt.Sprintf("%d promotions wait for room before it", len(b.queue)))
	}
	w := &spoolWaiter{size: size, ready: make(chan error, 1)}
	b.queue = append(b.queue, w)
	b.mu.Unlock()
	t := time.NewTicker(b.recheck)
	defer t.Stop()
	for {
		select {
		case err := <-w.ready:
			if err != nil {
				return nil, err
			}
			return &spoolReservation{b: b, size: size}, nil
		case <-t.C:
			b.mu.Lock()
			b.admitWaiting()
			b.mu.Unlock()
		case <-ctx.Done():
			b.mu.Lock()
			for i, q := range b.queue {
				if q == w {
					b.queue = append(b.queue[:i], b.queue[i+1:]...)
					b.admitWaiting() // the next one may fit now
					b.mu.Unlock()
					return nil, ctx.Err()
				}
			}
			b.mu.Unlock()
			if err := <-w.ready; err == nil { // admitted just as ctx ended
				(&spoolReservation{b: b, size: size}).release()
			}
			return nil, ctx.Err()
		}
	}
}

// admit books size bytes; the lock is held.
func (b *spoolBudget) admit(size int64) *spoolReservation {
	b.reserved += size
	b.peak = max(b.peak, b.reserved)
	return &spoolReservation{b: b, size: size}
}

// admitWaiting admits waiters from the head while they fit; the lock is held.
func (b *spoolBudget) admitWaiting() {
	for len(b.queue) > 0 {
		w := b.queue[0]
		ok, _, err := b.room(w.size)
		if err == nil && !ok && b.reserved == 0 {
			err = fmt.Errorf("an export of %s does not fit in the spool budget even alone (free disk space in state_dir, or lower spool.min_free_mb)", bytesText(w.size))
		}
		if err == nil && !ok {
			return
		}
		b.queue = b.queue[1:]
		if err == nil {
			b.reserved += w.size
			b.peak = max(b.peak, b.reserved)
		}
		w.ready <- err
	}
}

// wrote records how much of the spool is on disk now (n in all).
func (r *spoolReservation) wrote(n int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	delta := n - r.written
	r.written = n
	r.b.written += delta
	if n > r.size {
		// Bigger than estimated: book the difference (it is on disk already).
		r.b.reserved += n - r.size
		r.b.peak = max(r.b.peak, r.b.reserved)
		r.size = n
	}
}

// fix sets the reservation to the spool's real size once known, which
// frees what the estimate held in excess.
func (r *spoolReservation) fix(size int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done || size < r.written {
		return
	}
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	r.b.reserved += size - r.size
	r.b.peak = max(r.b.peak, r.b.reserved)
	r.size = size
	r.b.admitWaiting()
}

// release returns the reservation (the spool is gone).
func (r *spoolReservation) release() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	r.b.reserved -= r.size
	r.b.written -= r.written
	r.b.admitWaiting()
}
