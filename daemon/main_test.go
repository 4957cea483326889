package daemon

import (
	"os"
	"testing"

	"github.com/qs-promoter/qs-promoter/store"
	"github.com/qs-promoter/qs-promoter/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// onPostgres makes the harness's daemon keep its state in a schema of its
// own on the test binary's PostgreSQL server.
func (h *harness) onPostgres() {
	u, schema := storetest.Postgres(h.t)
	h.storeOpts = func(o *store.Options) { o.Driver, o.URL, o.Schema = store.DriverPostgres, u, schema }
}
