package bench

import (
	"math/rand/v2"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/catalog"
)

// lifetimeClass is one kind of connection in the simulated population.
type lifetimeClass struct {
	name     string
	provider string
	lifetime time.Duration
	share    float64
}

// populationMix is the mixture of provider lifetimes of the freshness part:
// mostly one-hour tokens (Google, Spotify), some of two and eight hours,
// Discord's seven days, LinkedIn's sixty days, a few five-minute tokens.
var populationMix = []lifetimeClass{
	{"1h (Google)", "google", time.Hour, 0.30},
	{"1h (Spotify)", "spotify", time.Hour, 0.15},
	{"2h", "acme-2h", 2 * time.Hour, 0.15},
	{"8h", "acme-8h", 8 * time.Hour, 0.10},
	{"7d (Discord)", "discord", 7 * 24 * time.Hour, 0.15},
	{"60d (LinkedIn)", "linkedin", 60 * 24 * time.Hour, 0.13},
	{"5min", "acme-5m", 5 * time.Minute, 0.02},
}

// member is one connection of the population as linked before the start.
type member struct {
	class    int
	linkedAt time.Time
}

// population draws n members: class by share, link time uniform over the
// lifetime before start, so that expiries are spread as a real population's.
func population(n int, start time.Time, seed uint64) []member {
	rnd := rand.New(rand.NewPCG(seed, 8))
	out := make([]member, n)
	for i := range out {
		u, c := rnd.Float64(), 0
		for c < len(populationMix)-1 && u >= populationMix[c].share {
			u -= populationMix[c].share
			c++
		}
		lt := populationMix[c].lifetime
		out[i] = member{class: c, linkedAt: start.Add(-time.Duration(rnd.Float64() * float64(lt)))}
	}
	return out
}

// mixProviders returns the providers of the mix: the catalog's entries for
// the named ones (their margins, keepalives and refresh-token lifetimes),
// custom ones for the others. tokenURL, when set, replaces every token URL
// and the client credentials with the fake provider's.
func mixProviders(fake *Provider) (catalogMap, error) {
	builtin, err := catalog.Builtin()
	if err != nil {
		return nil, err
	}
	out := catalogMap{}
	for _, c := range populationMix {
		p, ok := builtin.Provider(c.provider)
		if !ok {
			p = &tokenkeeper.Provider{Name: c.provider, DisplayName: c.provider, AuthMethod: tokenkeeper.AuthPost, PKCE: tokenkeeper.PKCESupported, RefreshSupported: true, AccessTokenLifetime: c.lifetime, Custom: true}
		}
		if fake != nil {
			f := fake.Provider(c.provider)
			p.TokenURL, p.AuthMethod, p.ClientID, p.ClientSecret = f.TokenURL, f.AuthMethod, f.ClientID, f.ClientSecret
			p.Refresh = tokenkeeper.RefreshQuirks{}
			p.RateLimit, p.Burst, p.MaxConcurrent, p.SweepSchedule = 0, 0, 0, ""
		}
		out[c.provider] = p
	}
	return out, nil
}
