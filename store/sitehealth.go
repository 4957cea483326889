package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// SiteHealth is what the leader last saw of a site: whether it answers,
// when it subscribed, how catch-up went. The leader publishes it so that
// every replica's status, readiness and executions see the same view.
type SiteHealth struct {
	Up            bool      `json:"up"`
	CheckedAt     time.Time `json:"checked_at,omitzero"`
	Error         string    `json:"error,omitempty"`
	SubscribedAt  time.Time `json:"subscribed_at,omitzero"`
	LastCatchup   time.Time `json:"last_catchup,omitzero"`
	CatchupQueued int       `json:"catchup_queued,omitempty"`
	CatchupError  string    `json:"catchup_error,omitempty"`
	// Age is how long ago it was published, by the database's clock (or
	// Options.Now); set by Store.SiteHealth.
	Age time.Duration `json:"-"`
}

// SetSiteHealth publishes the leader's view of a site, under the lease.
func (f Fenced) SetSiteHealth(ctx context.Context, alias string, h SiteHealth) error {
	raw, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("publish site health: %w", err)
	}
	s := f.s
	return s.fenced(ctx, &f.l, "publish site health", func(tx *sql.Tx) error {
		if _, err := s.siteToken(ctx, tx, alias); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.dia.rebind(`UPDATE qsp_site SET health = ?, health_at = `+s.dia.now()+` WHERE alias = ?`),
			string(raw), s.dbNow(), alias)
		return err
	})
}

// SiteHealth returns the views the leader published, by site alias; a site
// never published is absent.
func (s *Store) SiteHealth(ctx context.Context) (map[string]SiteHealth, error) {
	rows, err := s.db.QueryContext(ctx, s.dia.rebind(`SELECT alias, health, `+s.dia.secondsSince("health_at")+`
		FROM qsp_site WHERE health_at IS NOT NULL`), s.dbNow())
	if err != nil {
		return nil, fmt.Errorf("read site health: %w", err)
	}
	defer rows.Close()
	out := map[string]SiteHealth{}
	for rows.Next() {
		var alias, raw string
		var age float64
		if err := rows.Scan(&alias, &raw, &age); err != nil {
			return nil, fmt.Errorf("read site health: %w", err)
		}
		var h SiteHealth
		if err := json.Unmarshal([]byte(raw), &h); err != nil {
			return nil, fmt.Errorf("read site health of %s: %w", alias, err)
		}
		h.Age = time.Duration(age * float64(time.Second)).Round(time.Millisecond)
		out[alias] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read site health: %w", err)
	}
	return out, nil
}
