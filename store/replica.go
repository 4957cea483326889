package store

import (
	"context"
	"fmt"
	"time"
)

// Replica is one daemon process sharing the database, as it registered.
type Replica struct {
	ID          string    `json:"id"`
	Listen      string    `json:"listen,omitempty"`
	CallbackURL string    `json:"callback_url,omitempty"`
	Revision    string    `json:"policy_revision,omitempty"`
	Started     time.Time `json:"started"`
	Heartbeat   time.Time `json:"last_heartbeat"`
	// Silent is how long ago the last heartbeat was, by the database's clock
	// (or Options.Now), so replicas with skewed clocks agree on it.
	Silent time.Duration `json:"silent"`
}

// RegisterReplica records a replica starting (again: a row with the same
// ID is replaced), with its start and first heartbeat now.
func (s *Store) RegisterReplica(ctx context.Context, r Replica) error {
	if r.ID == "" {
		return fmt.Errorf("store: a replica needs an ID")
	}
	_, err := s.db.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_replica (id, listen, callback_url, revision, started_at, heartbeat_at)
		VALUES (?, ?, ?, ?, `+s.dia.now()+`, `+s.dia.now()+`)
		ON CONFLICT (id) DO UPDATE SET listen = excluded.listen, callback_url = excluded.callback_url, revision = excluded.revision,
			started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`),
		r.ID, r.Listen, r.CallbackURL, r.Revision, s.dbNow(), s.dbNow())
	if err != nil {
		return fmt.Errorf("register replica %s: %w", r.ID, err)
	}
	return nil
}

// ReplicaHeartbeat records that a replica is alive, running the policy
// revision given. It fails when the replica is not registered (it was
// removed as silent): the caller registers again.
func (s *Store) ReplicaHeartbeat(ctx context.Context, id, revision string) error {
	res, err := s.db.ExecContext(ctx, s.dia.rebind(`UPDATE qsp_replica SET heartbeat_at = `+s.dia.now()+`, revision = ? WHERE id = ?`),
		s.dbNow(), revision, id)
	if err != nil {
		return fmt.Errorf("replica heartbeat: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("replica heartbeat: replica %s is not registered", id)
	}
	return nil
}

// Replicas lists the registered replicas, the longest running first.
func (s *Store) Replicas(ctx context.Context) ([]Replica, error) {
	rows, err := s.db.QueryContext(ctx, s.dia.rebind(`SELECT id, listen, callback_url, revision, started_at, heartbeat_at, `+s.dia.secondsSince("heartbeat_at")+`
		FROM qsp_replica ORDER BY started_at, id`), s.dbNow())
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var r Replica
		var started, beat dbTime
		var silent float64
		if err := rows.Scan(&r.ID, &r.Listen, &r.CallbackURL, &r.Revision, &started, &beat, &silent); err != nil {
			return nil, fmt.Errorf("list replicas: %w", err)
		}
		r.Started, r.Heartbeat = started.Time, beat.Time
		r.Silent = time.Duration(silent * float64(time.Second)).Round(time.Millisecond)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	return out, nil
}

// RemoveReplica forgets a replica (it stopped cleanly).
func (s *Store) RemoveReplica(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, s.dia.rebind(`DELETE FROM qsp_replica WHERE id = ?`), id); err != nil {
		return fmt.Errorf("remove replica %s: %w", id, err)
	}
	return nil
}

// PruneReplicas forgets the replicas silent for longer than d (crashed or
// killed) and returns how many.
func (s *Store) PruneReplicas(ctx context.Context, d time.Duration) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.dia.rebind(`DELETE FROM qsp_replica WHERE `+s.dia.secondsSince("heartbeat_at")+` > ?`), s.dbNow(), d.Seconds())
	if err != nil {
		return 0, fmt.Errorf("prune replicas: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
