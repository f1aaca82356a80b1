package refresh

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/oauth"
	"github.com/tokenkeeper/tokenkeeper/internal/providertest"
	"github.com/tokenkeeper/tokenkeeper/internal/sqlite"
	"github.com/tokenkeeper/tokenkeeper/internal/vault"
)

// benchKeeper returns a refresher on a fresh SQLite file and n connections
// holding fresh one-hour tokens.
func benchKeeper(b *testing.B, n int) (*Refresher, []string) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	key, err := vault.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	ring, err := vault.NewRing(key)
	if err != nil {
		b.Fatal(err)
	}
	prov := providertest.New(providertest.Options{})
	b.Cleanup(prov.Close)
	cat := staticCatalog{"acme": prov.Provider("acme")}
	r, err := New(Options{Store: st, Sealer: ring, Catalog: cat, Client: oauth.New(oauth.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		g := prov.Grant("read")
		c, _, err := r.Link(ctx, tokenkeeper.LinkRequest{UserID: "user-" + itoa(i), Provider: "acme", AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, ExpiresIn: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = c.ID
	}
	return r, ids
}

// BenchmarkAccessToken is the in-process read of a fresh token (no refresh):
// one store read and one decryption. The parallel case shows how reads
// scale over the SQLite reader pool.
func BenchmarkAccessToken(b *testing.B) {
	r, ids := benchKeeper(b, 100)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, err := r.AccessToken(ctx, ids[i%len(ids)], 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, _, err := r.AccessToken(ctx, ids[i%len(ids)], 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkScheduledRefresh is the scheduler's refresh of a claimed
// connection, provider round trip included (an in-process fake answering
// at once): "claimed" confirms the claim's lease with a read, as the
// scheduler does; "relock" takes the lease again, as every other refresh
// does. The difference is the cost of one write transaction.
func BenchmarkScheduledRefresh(b *testing.B) {
	const batch = 64
	r, ids := benchKeeper(b, batch)
	ctx := context.Background()
	for _, bc := range []struct {
		name    string
		refresh func(id string) error
	}{
		{"claimed", func(id string) error {
			_, err := r.RefreshClaimed(ctx, id, tokenkeeper.TriggerSweep)
			return err
		}},
		{"relock", func(id string) error {
			_, err := r.Refresh(ctx, id, tokenkeeper.TriggerManual, "")
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				now := time.Now()
				for _, id := range ids {
					if _, err := r.store.AcquireLease(ctx, id, r.owner, now, now.Add(time.Minute)); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				for _, id := range ids {
					if err := bc.refresh(id); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/refresh")
		})
	}
}
