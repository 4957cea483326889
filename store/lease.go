package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrLeaseLost is returned when a lease is no longer held by the holder and
// term asked about: it expired, was released, or another holder took it.
var ErrLeaseLost = errors.New("store: lease lost")

// Lease is a named right held by one holder until it expires, unless
// renewed: the leader's, or one site/app's while an execution runs. It is a
// row in the database, so a holder that crashes loses it when it expires,
// however long its connection takes to die. Times are the database's clock
// (or Options.Now), shared by every replica.
type Lease struct {
	Name    string    `json:"name"`
	Holder  string    `json:"holder"`
	Term    int64     `json:"term"` // increases with each new holding (another holder, or the same one after it expired)
	Expires time.Time `json:"expires"`
	// Until is when the holder must stop acting on the lease if it has not
	// renewed it, by this process's clock: when it asked for the lease (or
	// the renewal) plus the TTL, so it never outlasts Expires.
	Until time.Time `json:"-"`
}

// dbNow is the time leases and heartbeats are computed with: nil (the
// database's clock) unless the store was given a clock.
func (s *Store) dbNow() any {
	if s.fixedClock {
		return s.dia.timeArg(s.now())
	}
	return nil
}

func checkLeaseArgs(name, holder string, ttl time.Duration) error {
	if name == "" || holder == "" {
		return fmt.Errorf("store: a lease needs a name and a holder (got %q, %q)", name, holder)
	}
	if ttl <= 0 {
		return fmt.Errorf("store: lease %s: the time to live must be positive (got %s)", name, ttl)
	}
	return nil
}

// AcquireLease takes the lease for holder for ttl if nobody else holds it
// (it is new, expired or released); ok is false when another holder has it.
// When holder already has it, it is renewed and keeps its term.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (l Lease, ok bool, err error) {
	if err := checkLeaseArgs(name, holder, ttl); err != nil {
		return Lease{}, false, err
	}
	asked := s.now()
	// excluded.acquired_at is "now" in the conflict branch; the SET
	// expressions all read the row as it was before the update.
	var expires dbTime
	err = s.db.QueryRowContext(ctx, s.dia.rebind(`INSERT INTO qsp_lease (name, holder, term, acquired_at, expires_at)
		VALUES (?, ?, 1, `+s.dia.now()+`, `+s.dia.nowPlus()+`)
		ON CONFLICT (name) DO UPDATE SET
			term = CASE WHEN qsp_lease.holder = excluded.holder AND qsp_lease.expires_at > excluded.acquired_at
				THEN qsp_lease.term ELSE qsp_lease.term + 1 END,
			acquired_at = CASE WHEN qsp_lease.holder = excluded.holder AND qsp_lease.expires_at > excluded.acquired_at
				THEN qsp_lease.acquired_at ELSE excluded.acquired_at END,
			holder = excluded.holder,
			expires_at = excluded.expires_at
		WHERE qsp_lease.holder = excluded.holder OR qsp_lease.expires_at <= excluded.acquired_at
		RETURNING term, expires_at`),
		name, holder, s.dbNow(), s.dbNow(), ttl.Seconds()).Scan(&l.Term, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return Lease{Name: name, Holder: holder, Term: l.Term, Expires: expires.Time, Until: asked.Add(ttl)}, true, nil
}

// RenewLease extends a held lease by ttl from now. It fails with
// ErrLeaseLost once the lease has expired (even if nobody took it since: the
// holder must then have stopped, and acquires it again with a new term).
func (s *Store) RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	if err := checkLeaseArgs(l.Name, l.Holder, ttl); err != nil {
		return l, err
	}
	asked := s.now()
	var expires dbTime
	err := s.db.QueryRowContext(ctx, s.dia.rebind(`UPDATE qsp_lease SET expires_at = `+s.dia.nowPlus()+`
		WHERE name = ? AND holder = ? AND term = ? AND expires_at > `+s.dia.now()+` RETURNING expires_at`),
		s.dbNow(), ttl.Seconds(), l.Name, l.Holder, l.Term, s.dbNow()).Scan(&expires)
	if errors.Is(err, sql.ErrNoRows) {
		return l, fmt.Errorf("renew lease %s (term %d): %w", l.Name, l.Term, ErrLeaseLost)
	}
	if err != nil {
		return l, fmt.Errorf("renew lease %s: %w", l.Name, err)
	}
	l.Expires, l.Until = expires.Time, asked.Add(ttl)
	return l, nil
}

// ReleaseLease gives a lease up at once (for a clean shutdown), so another
// holder need not wait for it to expire. Releasing a lease already lost is
// not an error.
func (s *Store) ReleaseLease(ctx context.Context, l Lease) error {
	_, err := s.db.ExecContext(ctx, s.dia.rebind(`UPDATE qsp_lease SET expires_at = `+s.dia.now()+`
		WHERE name = ? AND holder = ? AND term = ? AND expires_at > `+s.dia.now()),
		s.dbNow(), l.Name, l.Holder, l.Term, s.dbNow())
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.Name, err)
	}
	return nil
}

// LeaseHolder returns a lease's last holding; held is false when it has
// expired or was released (or never existed: then l is zero).
func (s *Store) LeaseHolder(ctx context.Context, name string) (l Lease, held bool, err error) {
	var expires dbTime
	err = s.db.QueryRowContext(ctx, s.dia.rebind(`SELECT name, holder, term, expires_at, CASE WHEN expires_at > `+s.dia.now()+` THEN 1 ELSE 0 END
		FROM qsp_lease WHERE name = ?`), s.dbNow(), name).Scan(&l.Name, &l.Holder, &l.Term, &expires, &held)
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, nil
	}
	if err != nil {
		return Lease{}, false, fmt.Errorf("read lease %s: %w", name, err)
	}
	l.Expires = expires.Time
	return l, held, nil
}

// fenced runs fn in a transaction; with a fence, only while the fence's
// lease is still held by its holder and term. On PostgreSQL the check locks
// the lease row until commit, so a new holder's AcquireLease waits for the
// write to commit: nothing written under an old term lands after a new term
// began.
func (s *Store) fenced(ctx context.Context, fence *Lease, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if fence != nil {
		var one int
		err := tx.QueryRowContext(ctx, s.dia.rebind(`SELECT 1 FROM qsp_lease WHERE name = ? AND holder = ? AND term = ? AND expires_at > `+s.dia.now()+s.dia.forShare()),
			fence.Name, fence.Holder, fence.Term, s.dbNow()).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s: lease %s (term %d): %w", what, fence.Name, fence.Term, ErrLeaseLost)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := fn(tx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Fenced are the writes only a lease's holder may make (the leader's:
// subscriptions, catch-up, pruning). Each fails with ErrLeaseLost, writing
// nothing, once the lease is no longer held with the same term.
type Fenced struct {
	s *Store
	l Lease
}

// Fenced returns the writes fenced by the lease l.
func (s *Store) Fenced(l Lease) Fenced { return Fenced{s, l} }

// SetHandles is Store.SetHandles under the lease.
func (f Fenced) SetHandles(ctx context.Context, alias string, handles []string) error {
	return f.s.setHandles(ctx, &f.l, alias, handles)
}

// SetCatchupMark is Store.SetCatchupMark under the lease.
func (f Fenced) SetCatchupMark(ctx context.Context, alias, mark string) error {
	return f.s.setCatchupMark(ctx, &f.l, alias, mark)
}

// Prune is Store.Prune under the lease.
func (f Fenced) Prune(ctx context.Context, before time.Time) (int64, error) {
	return f.s.prune(ctx, &f.l, before)
}
