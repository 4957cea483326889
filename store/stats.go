package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// DayCount is how many executions started on one day (UTC) ended in one state.
type DayCount struct {
	Day   string `json:"day"` // YYYY-MM-DD
	State string `json:"state"`
	Count int    `json:"count"`
}

// ExecutionsPerDay counts the executions started since the given time, by
// UTC day and state, oldest day first: the console's chart, counted in the
// database from the index on started_at.
func (s *Store) ExecutionsPerDay(ctx context.Context, since time.Time) ([]DayCount, error) {
	day := s.dia.day("started_at")
	rows, err := s.db.QueryContext(ctx, s.dia.rebind(`SELECT `+day+`, state, count(*) FROM qsp_execution
		WHERE started_at >= ? GROUP BY `+day+`, state ORDER BY 1, 2`), s.dia.timeArg(since))
	if err != nil {
		return nil, fmt.Errorf("executions per day: %w", err)
	}
	defer rows.Close()
	var out []DayCount
	for rows.Next() {
		var c DayCount
		if err := rows.Scan(&c.Day, &c.State, &c.Count); err != nil {
			return nil, fmt.Errorf("executions per day: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("executions per day: %w", err)
	}
	return out, nil
}

// Secret returns the secret kept under name, making it (32 random bytes,
// hex) on first use. Every process on the database gets the same one: the
// first to ask makes it, the others read it.
func (s *Store) Secret(ctx context.Context, name string) (string, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	if _, err := s.db.ExecContext(ctx, s.dia.rebind(`INSERT INTO qsp_secret (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`),
		name, hex.EncodeToString(b[:]), s.dia.timeArg(s.now())); err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	var v string
	err := s.db.QueryRowContext(ctx, s.dia.rebind(`SELECT value FROM qsp_secret WHERE name = ?`), name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("secret %s: not kept", name)
	}
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	return v, nil
}
