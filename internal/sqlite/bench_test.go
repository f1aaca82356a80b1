package sqlite

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

// bigBench enables the 1,000,000-row case of BenchmarkClaimDue, which takes
// a while to build; TOKENKEEPER_BIG_BENCH=1 does the same.
var bigBench = flag.Bool("tokenkeeper.bigbench", false, "run BenchmarkClaimDue with 1,000,000 stored connections")

// BenchmarkClaimDue claims the 1,000 due connections of a table of 10,000,
// 100,000 (and with -tokenkeeper.bigbench 1,000,000) in one ClaimDue call.
// A claim's cost should follow the due rows, so ns/op should barely move
// with the number stored. Each iteration claims at a later "now", after the
// previous iteration's leases expired, so every iteration claims the same
// 1,000 rows again.
func BenchmarkClaimDue(b *testing.B) {
	const due = 1000
	sizes := []int{10_000, 100_000}
	if *bigBench || os.Getenv("TOKENKEEPER_BIG_BENCH") == "1" {
		sizes = append(sizes, 1_000_000)
	}
	for _, stored := range sizes {
		b.Run(fmt.Sprintf("stored=%d", stored), func(b *testing.B) {
			s := setup(b)
			now := storetest.BaseTime()
			insertBulk(b, s, stored, due, now)
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(2 * time.Millisecond)
				cs, err := s.ClaimDue(b.Context(), "bench", now, now.Add(time.Millisecond), due, nil)
				if err != nil {
					b.Fatal(err)
				}
				if len(cs) != due {
					b.Fatalf("claimed %d connections, want %d", len(cs), due)
				}
			}
			b.ReportMetric(due, "claimed/op")
		})
	}
}
