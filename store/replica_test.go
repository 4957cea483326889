package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestReplicasRegisterHeartbeatAndPrune(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		c := newClock()
		s := db.openClock(t, c)
		defer s.Close()
		t0 := c.now()
		if err := s.RegisterReplica(ctx, Replica{ID: "r1", Listen: "0.0.0.0:5000", CallbackURL: "https://node1:5000", Revision: "rev1"}); err != nil {
			t.Fatal(err)
		}
		c.add(time.Second)
		if err := s.RegisterReplica(ctx, Replica{ID: "r2", Listen: "0.0.0.0:5000", CallbackURL: "https://node2:5000", Revision: "rev1"}); err != nil {
			t.Fatal(err)
		}
		c.add(4 * time.Second)
		if err := s.ReplicaHeartbeat(ctx, "r1", "rev2"); err != nil {
			t.Fatal(err)
		}
		rs, err := s.Replicas(ctx)
		if err != nil || len(rs) != 2 {
			t.Fatalf("replicas %+v %v", rs, err)
		}
		r1, r2 := rs[0], rs[1]
		if r1.ID != "r1" || r1.Revision != "rev2" || r1.CallbackURL != "https://node1:5000" || !r1.Started.Equal(t0) ||
			!r1.Heartbeat.Equal(t0.Add(5*time.Second)) || r1.Silent != 0 {
			t.Errorf("r1 %+v", r1)
		}
		if r2.ID != "r2" || r2.Revision != "rev1" || r2.Silent != 4*time.Second {
			t.Errorf("r2 %+v", r2)
		}
		if err := s.ReplicaHeartbeat(ctx, "r3", "rev1"); err == nil || !strings.Contains(err.Error(), "not registered") {
			t.Errorf("heartbeat of an unknown replica: %v", err)
		}
		if n, err := s.PruneReplicas(ctx, 3*time.Second); n != 1 || err != nil {
			t.Fatalf("pruned %d %v, want r2", n, err)
		}
		// A restart registers again: new start, same ID.
		c.add(time.Minute)
		if err := s.RegisterReplica(ctx, Replica{ID: "r1", Revision: "rev3"}); err != nil {
			t.Fatal(err)
		}
		rs, _ = s.Replicas(ctx)
		if len(rs) != 1 || !rs[0].Started.Equal(c.now()) || rs[0].Revision != "rev3" {
			t.Fatalf("after re-registering %+v", rs)
		}
		if err := s.RemoveReplica(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		if rs, _ = s.Replicas(ctx); len(rs) != 0 {
			t.Fatalf("after removal %+v", rs)
		}
		if err := s.RegisterReplica(ctx, Replica{}); err == nil {
			t.Fatal("a replica without an ID was registered")
		}
	})
}
