package bench

import (
	"container/heap"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// simParams describe one simulated run: a population linked before start,
// run from start through a warm-up and then a measured window of span, each
// refresh taking between half and one and a half times cost (uniformly, the
// same draws for every policy).
type simParams struct {
	members   []member
	providers catalogMap
	start     time.Time
	warmup    time.Duration
	span      time.Duration
	cost      time.Duration
	workers   int
	seed      uint64
}

// costs returns the refresh durations of a run, drawn from p.seed.
func (p simParams) costs() func() time.Duration {
	rnd := rand.New(rand.NewPCG(p.seed, 3))
	return func() time.Duration {
		return time.Duration((0.5 + rnd.Float64()) * float64(p.cost))
	}
}

func (p simParams) window() (from, to time.Time) {
	from = p.start.Add(p.warmup)
	return from, from.Add(p.span)
}

// simResult is what a policy achieved over the measured window.
type simResult struct {
	// refreshes is every refresh from start to the end of the window.
	refreshes int
	// expiries is the access tokens whose expiry fell in the window;
	// expired those of them that were not refreshed before it.
	expiries, expired int
	expiredBy         []int
	// lag is refresh start minus due time, for refreshes started in the
	// window; left is expiry minus refresh end for them (negative when the
	// token had expired); late is, for the expired tokens, how long they
	// stayed expired (until their refresh or the end of the window). All
	// sorted.
	lag, left, late []time.Duration
}

// tally records the refresh of a token that expired at exp, due at due,
// started at begin and obtained at done.
func (r *simResult) tally(p simParams, class int, exp, due, begin, done time.Time) {
	from, to := p.window()
	r.refreshes++
	if !begin.Before(from) && begin.Before(to) {
		r.lag = append(r.lag, begin.Sub(due))
		r.left = append(r.left, exp.Sub(done))
	}
	if !exp.Before(from) && exp.Before(to) {
		r.expiries++
		if done.After(exp) {
			r.expired++
			r.expiredBy[class]++
			r.late = append(r.late, done.Sub(exp))
		}
	}
}

// finish counts the tokens that expired in the window and were never
// refreshed, and sorts the distributions.
func (r *simResult) finish(p simParams, expiry func(i int) time.Time) {
	from, to := p.window()
	for i, m := range p.members {
		if exp := expiry(i); !exp.Before(from) && exp.Before(to) {
			r.expiries++
			r.expired++
			r.expiredBy[m.class]++
			r.late = append(r.late, to.Sub(exp))
		}
	}
	slices.Sort(r.lag)
	slices.Sort(r.left)
	slices.Sort(r.late)
}

// simulateScheduler is an event simulation of tokenkeeper's scheduler: each
// connection is due at the next_refresh_at that the domain's Policy
// computes (Link, then Apply after every refresh); p.workers refreshes run
// at once, earliest due first; a worker that frees up takes the next due
// connection at once (the scheduler wakes at the next due time).
func simulateScheduler(p simParams) simResult {
	policy := tokenkeeper.DefaultPolicy()
	rnd := rand.New(rand.NewPCG(p.seed, 1))
	conns := make([]*tokenkeeper.Connection, len(p.members))
	provs := make([]*tokenkeeper.Provider, len(p.members))
	due := &eventHeap{}
	for i, m := range p.members {
		cl := populationMix[m.class]
		provs[i], _ = p.providers.Provider(cl.provider)
		c := &tokenkeeper.Connection{Provider: cl.provider}
		tok := &tokenkeeper.Token{RefreshToken: "x", ExpiresAt: m.linkedAt.Add(cl.lifetime), Lifetime: cl.lifetime}
		c, _ = policy.Link(c, provs[i], tok, m.linkedAt, rnd.Float64())
		c.SealedRefreshToken = []byte{1}
		conns[i] = c
		heap.Push(due, event{at: c.NextRefreshAt, i: i})
	}
	res := simResult{expiredBy: make([]int, len(populationMix))}
	_, end := p.window()
	cost := p.costs()
	busy := &eventHeap{}
	free := p.workers
	for t := p.start; t.Before(end); {
		for free > 0 && due.Len() > 0 && !(*due)[0].at.After(t) {
			e := heap.Pop(due).(event)
			heap.Push(busy, event{at: t.Add(cost()), i: e.i, begin: t})
			free--
		}
		next := end
		if busy.Len() > 0 && (*busy)[0].at.Before(next) {
			next = (*busy)[0].at
		}
		if free > 0 && due.Len() > 0 && (*due)[0].at.Before(next) {
			next = later((*due)[0].at, t)
		}
		t = next
		for busy.Len() > 0 && !(*busy)[0].at.After(t) {
			e := heap.Pop(busy).(event)
			c := conns[e.i]
			cl := populationMix[p.members[e.i].class]
			res.tally(p, p.members[e.i].class, c.ExpiresAt, c.NextRefreshAt, e.begin, e.at)
			o := tokenkeeper.Outcome{Class: tokenkeeper.ClassSuccess, Token: &tokenkeeper.Token{ExpiresAt: e.at.Add(cl.lifetime), Lifetime: cl.lifetime}}
			n, _ := policy.Apply(c, provs[e.i], o, e.at, rnd.Float64(), rnd.Float64())
			conns[e.i] = n
			heap.Push(due, event{at: n.NextRefreshAt, i: e.i})
			free++
		}
	}
	res.finish(p, func(i int) time.Time { return conns[i].ExpiresAt })
	return res
}

// simulateCron is the seeds' cron job: every interval it selects the tokens
// expiring within window (ordered by expiry, which favours it) and
// refreshes them one after the other on each of lanes (1: one by one). A
// run still going when the next is due makes that run skip, as a lock does.
func simulateCron(p simParams, interval, window time.Duration, lanes int) simResult {
	exp := make([]time.Time, len(p.members))
	for i, m := range p.members {
		exp[i] = m.linkedAt.Add(populationMix[m.class].lifetime)
	}
	res := simResult{expiredBy: make([]int, len(populationMix))}
	_, end := p.window()
	cost := p.costs()
	laneFree := make([]time.Time, lanes)
	var sel []int
	for tick := p.start; tick.Before(end); {
		sel = sel[:0]
		for i := range exp {
			if !exp[i].After(tick.Add(window)) {
				sel = append(sel, i)
			}
		}
		slices.SortFunc(sel, func(a, b int) int { return exp[a].Compare(exp[b]) })
		for l := range laneFree {
			laneFree[l] = tick
		}
		runEnd := tick
		for _, i := range sel {
			l := 0
			for k := range laneFree {
				if laneFree[k].Before(laneFree[l]) {
					l = k
				}
			}
			begin := laneFree[l]
			if !begin.Before(end) {
				break
			}
			done := begin.Add(cost())
			cl := populationMix[p.members[i].class]
			res.tally(p, p.members[i].class, exp[i], exp[i].Add(-window), begin, done)
			exp[i] = done.Add(cl.lifetime)
			laneFree[l] = done
			runEnd = later(runEnd, done)
		}
		tick = tick.Add(interval)
		for tick.Before(runEnd) {
			tick = tick.Add(interval)
		}
	}
	res.finish(p, func(i int) time.Time { return exp[i] })
	return res
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// event is a connection due (or a refresh ending) at a time.
type event struct {
	at, begin time.Time
	i         int
}

// eventHeap is a min-heap of events by time, then index.
type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if c := h[i].at.Compare(h[j].at); c != 0 {
		return c < 0
	}
	return h[i].i < h[j].i
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
