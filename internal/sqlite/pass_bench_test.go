package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

// BenchmarkSchedulerPass is one pass of the scheduler at its default batch
// size: ClaimDue of 100 due connections, then NextDue, over tables of
// 10,000 and 100,000 stored, with allocations. Like BenchmarkClaimDue, its
// cost should follow the due rows, not the stored ones.
func BenchmarkSchedulerPass(b *testing.B) {
	const batch = 100
	for _, stored := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("stored=%d", stored), func(b *testing.B) {
			s := setup(b)
			now := storetest.BaseTime()
			insertBulk(b, s, stored, batch, now)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(2 * time.Millisecond)
				cs, err := s.ClaimDue(b.Context(), "bench", now, now.Add(time.Millisecond), batch, nil)
				if err != nil {
					b.Fatal(err)
				}
				if len(cs) != batch {
					b.Fatalf("claimed %d connections, want %d", len(cs), batch)
				}
				if _, _, err := s.NextDue(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
