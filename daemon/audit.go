package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// auditLog appends one JSON object per line to state_dir/audit/audit.log,
// rotating it by size (audit.log.1 is the newest rotated file). A record
// that cannot be written is never dropped silently: the error is returned,
// counted and logged by the caller, and readiness fails until a write
// succeeds again.
type auditLog struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	size    int64
	maxSize int64
	keep    int
	lastErr error
}

func openAudit(dir string, maxSize int64, keep int) (*auditLog, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit folder: %w", err)
	}
	a := &auditLog{path: filepath.Join(dir, "audit.log"), maxSize: maxSize, keep: keep}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *auditLog) open() error {
	f, err := os.OpenFile(a.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit log: %w", err)
	}
	a.f, a.size = f, st.Size()
	return nil
}

// Write appends rec as one line and syncs it to disk.
func (a *auditLog) Write(rec any) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("audit record: %w", err)
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	err = a.write(line)
	a.lastErr = err
	return err
}

func (a *auditLog) write(line []byte) error {
	if a.f == nil {
		if err := a.open(); err != nil {
			return err
		}
	}
	if a.size > 0 && a.size+int64(len(line)) > a.maxSize {
		if err := a.rotate(); err != nil {
			return err
		}
	}
	n, err := a.f.Write(line)
	a.size += int64(n)
	if err == nil {
		err = a.f.Sync()
	}
	if err != nil {
		// Reopen at the next write: the file may have been removed or its
		// disk remounted.
		_ = a.f.Close()
		a.f = nil
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

func (a *auditLog) rotate() error {
	if err := a.f.Close(); err != nil {
		return fmt.Errorf("audit log rotation: %w", err)
	}
	a.f = nil
	_ = os.Remove(fmt.Sprintf("%s.%d", a.path, a.keep))
	for i := a.keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", a.path, i), fmt.Sprintf("%s.%d", a.path, i+1))
	}
	if a.keep > 0 {
		if err := os.Rename(a.path, a.path+".1"); err != nil {
			return fmt.Errorf("audit log rotation: %w", err)
		}
	} else if err := os.Remove(a.path); err != nil {
		return fmt.Errorf("audit log rotation: %w", err)
	}
	return a.open()
}

// Err returns the last write's error (nil when it succeeded).
func (a *auditLog) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastErr
}

// Close closes the file.
func (a *auditLog) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}

// auditDecision is the audit line of one evaluation: what was evaluated and
// what the rule set decided.
type auditDecision struct {
	Time        time.Time     `json:"time"`
	Type        string        `json:"type"` // "decision"
	ExecutionID string        `json:"execution_id"`
	Attempt     int           `json:"attempt"`
	Site        string        `json:"site"`
	AppID       string        `json:"app_id"`
	AppName     string        `json:"app_name,omitempty"`
	ModifiedBy  string        `json:"modified_by,omitempty"`
	Kinds       []string      `json:"kinds,omitempty"`
	Changed     []string      `json:"changed,omitempty"`
	Revision    string        `json:"revision,omitempty"`
	Outcome     string        `json:"outcome"`          // acted, no_match, failed, skipped, error, waiting
	Reason      string        `json:"reason,omitempty"` // why skipped, or the error
	Policies    []auditPolicy `json:"policies,omitempty"`
	Duration    float64       `json:"duration_s"`
	Event       string        `json:"event,omitempty"` // the recorded event file (for dry-run --event)
	Notified    int           `json:"notifications,omitempty"`
	NextAttempt time.Time     `json:"next_attempt,omitzero"` // retried or waiting: when it runs (looks) again
}

type auditPolicy struct {
	Name    string `json:"name"`
	Matched bool   `json:"matched"`
	Reason  string `json:"reason"`
	Error   string `json:"error,omitempty"`
}

// auditStep is the audit line of one step.
type auditStep struct {
	Time        time.Time      `json:"time"`
	Type        string         `json:"type"` // "step"
	ExecutionID string         `json:"execution_id"`
	Site        string         `json:"site"`
	AppID       string         `json:"app_id"`
	Revision    string         `json:"revision"`
	Policy      string         `json:"policy"`
	Step        string         `json:"step"`
	Action      string         `json:"action"`
	Params      map[string]any `json:"params,omitempty"`
	Status      string         `json:"status"`
	Summary     string         `json:"summary,omitempty"`
	Details     []string       `json:"details,omitempty"`
	Error       string         `json:"error,omitempty"`
	Resumed     bool           `json:"resumed,omitempty"`
	Duration    float64        `json:"duration_s"`
}
