package store

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkRecord measures durable intake: concurrent Record calls of one
// notification each, spread over 10 apps (group commit batches them), on
// each database.
func BenchmarkRecord(b *testing.B) {
	b.Run(DriverSQLite, func(b *testing.B) { benchmarkRecord(b, testDB{driver: DriverSQLite, dir: b.TempDir()}) })
	b.Run(DriverPostgres, func(b *testing.B) { benchmarkRecord(b, postgresDB(b)) })
}

func benchmarkRecord(b *testing.B, db testDB) {
	s := db.open(b, nil)
	defer s.Close()
	ctx := context.Background()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			app := fmt.Sprintf("app-%d", i%10)
			i++
			if _, err := s.Record(ctx, []Notification{{Site: "dev", AppID: app, Change: change(app)}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}
