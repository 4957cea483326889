package actions

import (
	"sync"

	"github.com/qs-promoter/qs-promoter/engine"
)

// memJournal is an in-memory engine.Journal: what a step uses when it is
// given none (then a retry starts over, relying on the lookups by
// temporary name alone), and what tests pass.
type memJournal struct {
	mu sync.Mutex
	m  map[string]string
}

func newMemJournal() *memJournal { return &memJournal{m: map[string]string{}} }

func (j *memJournal) Get(k string) (string, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	v, ok := j.m[k]
	return v, ok
}

func (j *memJournal) Put(k, v string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.m[k] = v
	return nil
}

// journalOf returns the step's journal, or a fresh in-memory one.
func journalOf(in *engine.StepInput) engine.Journal {
	if in.Journal != nil {
		return in.Journal
	}
	return newMemJournal()
}
