package httpapi

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/internal/testkit"
)

// fakeKeeper is a tokenkeeper.Keeper whose methods call its function
// fields; a nil field fails the test that reaches it.
type fakeKeeper struct {
	t           *testing.T
	link        func(ctx context.Context, r tokenkeeper.LinkRequest) (*tokenkeeper.Connection, bool, error)
	accessToken func(ctx context.Context, id string, minValidity time.Duration) (*tokenkeeper.Token, *tokenkeeper.Connection, error)
	refresh     func(ctx context.Context, id string, trigger tokenkeeper.Trigger, rejected tokenkeeper.Secret) (*tokenkeeper.Connection, error)
	disconnect  func(ctx context.Context, id string) (*tokenkeeper.Connection, error)

	mu    sync.Mutex
	calls int
}

func (k *fakeKeeper) called(name string, fn any) {
	k.mu.Lock()
	k.calls++
	k.mu.Unlock()
	if fn == nil {
		k.t.Errorf("unexpected Keeper.%s call", name)
	}
}

func (k *fakeKeeper) Calls() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls
}

func (k *fakeKeeper) Link(ctx context.Context, r tokenkeeper.LinkRequest) (*tokenkeeper.Connection, bool, error) {
	k.called("Link", k.link)
	if k.link == nil {
		return nil, false, errors.New("unexpected call")
	}
	return k.link(ctx, r)
}

func (k *fakeKeeper) AccessToken(ctx context.Context, id string, minValidity time.Duration) (*tokenkeeper.Token, *tokenkeeper.Connection, error) {
	k.called("AccessToken", k.accessToken)
	if k.accessToken == nil {
		return nil, nil, errors.New("unexpected call")
	}
	return k.accessToken(ctx, id, minValidity)
}

func (k *fakeKeeper) Refresh(ctx context.Context, id string, trigger tokenkeeper.Trigger, rejected tokenkeeper.Secret) (*tokenkeeper.Connection, error) {
	k.called("Refresh", k.refresh)
	if k.refresh == nil {
		return nil, errors.New("unexpected call")
	}
	return k.refresh(ctx, id, trigger, rejected)
}

func (k *fakeKeeper) Disconnect(ctx context.Context, id string) (*tokenkeeper.Connection, error) {
	k.called("Disconnect", k.disconnect)
	if k.disconnect == nil {
		return nil, errors.New("unexpected call")
	}
	return k.disconnect(ctx, id)
}

// fakeCatalog knows the providers acme and globex.
type fakeCatalog struct{}

func (fakeCatalog) Provider(name string) (*tokenkeeper.Provider, bool) {
	switch name {
	case "acme", "globex":
		return &tokenkeeper.Provider{Name: name, RefreshSupported: true}, true
	}
	return nil, false
}

func (c fakeCatalog) Providers() []*tokenkeeper.Provider {
	a, _ := c.Provider("acme")
	g, _ := c.Provider("globex")
	return []*tokenkeeper.Provider{a, g}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type syncBuffer = testkit.SyncBuffer
