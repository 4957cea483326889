package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is an injectable clock (Options.Now) that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (db testDB) openClock(t testing.TB, c *clock) *Store {
	o := db.options(nil)
	o.Now = c.now
	return db.openWith(t, o)
}

func TestLeaseTermsAndFencing(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		c := newClock()
		s := db.openClock(t, c)
		defer s.Close()
		t0 := c.now()
		ttl := 15 * time.Second

		a, ok, err := s.AcquireLease(ctx, "leader", "replica-a", ttl)
		if err != nil || !ok || a.Term != 1 || !a.Expires.Equal(t0.Add(ttl)) || !a.Until.Equal(t0.Add(ttl)) {
			t.Fatalf("first acquire: %+v %v %v", a, ok, err)
		}
		if _, ok, err := s.AcquireLease(ctx, "leader", "replica-b", ttl); ok || err != nil {
			t.Fatalf("b took a held lease: %v %v", ok, err)
		}
		if l, held, _ := s.LeaseHolder(ctx, "leader"); !held || l.Holder != "replica-a" || l.Term != 1 {
			t.Fatalf("holder %+v %v", l, held)
		}
		if _, held, err := s.LeaseHolder(ctx, "nobody"); held || err != nil {
			t.Fatalf("a lease never taken: %v %v", held, err)
		}
		// Asking again while holding it renews it, in the same term.
		c.add(5 * time.Second)
		if again, ok, _ := s.AcquireLease(ctx, "leader", "replica-a", ttl); !ok || again.Term != 1 || !again.Expires.Equal(t0.Add(20*time.Second)) {
			t.Fatalf("re-acquire by the holder: %+v %v", again, ok)
		}
		c.add(5 * time.Second)
		if a, err = s.RenewLease(ctx, a, ttl); err != nil || !a.Expires.Equal(t0.Add(25*time.Second)) || a.Term != 1 {
			t.Fatalf("renew: %+v %v", a, err)
		}
		if err := s.Fenced(a).SetHandles(ctx, "dev", []string{"a1"}); err != nil {
			t.Fatalf("the holder's fenced write: %v", err)
		}

		// a stops renewing (it crashed): once expired, b takes over in a
		// new term, and a's term can no longer write or renew.
		c.add(16 * time.Second)
		if _, held, _ := s.LeaseHolder(ctx, "leader"); held {
			t.Fatal("an expired lease is still held")
		}
		b, ok, err := s.AcquireLease(ctx, "leader", "replica-b", ttl)
		if err != nil || !ok || b.Term != 2 {
			t.Fatalf("takeover: %+v %v %v", b, ok, err)
		}
		if _, err := s.RenewLease(ctx, a, ttl); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("renewal by the old holder: %v", err)
		}
		if err := s.Fenced(a).SetHandles(ctx, "dev", []string{"stale"}); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("old term's write: %v", err)
		}
		if _, err := s.Fenced(a).Prune(ctx, c.now()); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("old term's prune: %v", err)
		}
		if err := s.Fenced(a).SetCatchupMark(ctx, "dev", "stale"); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("old term's catch-up mark: %v", err)
		}
		if hs, _ := s.Handles(ctx, "dev"); strings.Join(hs, ",") != "a1" {
			t.Fatalf("handles after the old term's write: %v", hs)
		}
		if err := s.Fenced(b).SetCatchupMark(ctx, "dev", "m2"); err != nil {
			t.Fatal(err)
		}
		if m, _ := s.CatchupMark(ctx, "dev"); m != "m2" {
			t.Fatalf("mark %q", m)
		}

		// A release frees it at once; the next holding is a new term, even
		// for the holder that released it.
		if err := s.ReleaseLease(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseLease(ctx, a); err != nil {
			t.Fatalf("releasing a lost lease: %v", err)
		}
		if a, ok, _ = s.AcquireLease(ctx, "leader", "replica-a", ttl); !ok || a.Term != 3 {
			t.Fatalf("after release: %+v %v", a, ok)
		}
		_ = s.ReleaseLease(ctx, a)
		if a, ok, _ = s.AcquireLease(ctx, "leader", "replica-a", ttl); !ok || a.Term != 4 {
			t.Fatalf("the same holder after its release: %+v %v", a, ok)
		}
		// Leases are independent of each other.
		if l, ok, _ := s.AcquireLease(ctx, "app:dev/a", "replica-b", time.Minute); !ok || l.Term != 1 {
			t.Fatalf("a second lease: %+v %v", l, ok)
		}

		for _, bad := range []struct {
			name, holder string
			ttl          time.Duration
		}{{"", "x", ttl}, {"x", "", ttl}, {"x", "y", 0}} {
			if _, _, err := s.AcquireLease(ctx, bad.name, bad.holder, bad.ttl); err == nil || !strings.HasPrefix(err.Error(), "store: ") {
				t.Errorf("AcquireLease(%q, %q, %s): %v", bad.name, bad.holder, bad.ttl, err)
			}
		}
	})
}

// Without an injected clock, leases run on the database's clock.
func TestLeaseExpiresOnTheDatabaseClock(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s := db.open(t, nil)
		defer s.Close()
		a, ok, err := s.AcquireLease(ctx, "leader", "a", 300*time.Millisecond)
		if err != nil || !ok {
			t.Fatalf("%v %v", ok, err)
		}
		if d := time.Until(a.Expires); d < 0 || d > 2*time.Second {
			t.Fatalf("expires in %s by this clock, want about 300ms", d)
		}
		if _, ok, _ := s.AcquireLease(ctx, "leader", "b", time.Second); ok {
			t.Fatal("b took a held lease")
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, ok, err := s.AcquireLease(ctx, "leader", "b", time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				// (SQLite's clock has milliseconds: Expires may be a
				// millisecond short of Until.)
				if b.Term != 2 || time.Since(a.Until) < -5*time.Millisecond {
					t.Fatalf("taken over %+v before a's own deadline %s", b, a.Until)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the lease never expired")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// A fenced write that checked the lease before it expired holds off the
// next holder until it commits: nothing written under an old term lands
// after a new term began.
func TestFencedWriteHoldsOffTheNextHolder(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		c := newClock()
		s := db.openClock(t, c)
		defer s.Close()
		a, _, err := s.AcquireLease(ctx, "leader", "a", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			l   Lease
			ok  bool
			err error
		}
		got := make(chan result, 1)
		err = s.fenced(ctx, &a, "test write", func(tx *sql.Tx) error {
			c.add(11 * time.Second) // a's lease expires while its write is in flight
			go func() {
				l, ok, err := s.AcquireLease(ctx, "leader", "b", 10*time.Second)
				got <- result{l, ok, err}
			}()
			select {
			case r := <-got:
				return fmt.Errorf("b acquired during a's fenced write: %+v", r)
			case <-time.After(300 * time.Millisecond):
			}
			_, err := tx.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_site (alias, token) VALUES (?, ?)`), "written-under-a", "x")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-got:
			if r.err != nil || !r.ok || r.l.Term != 2 {
				t.Fatalf("b after a's commit: %+v", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("b never acquired the lease")
		}
	})
}
