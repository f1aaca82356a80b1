package sqlite

import (
	"testing"

	"github.com/tokenkeeper/tokenkeeper/internal/storetest"
)

func TestConnectConformance(t *testing.T) {
	t.Parallel()
	storetest.RunConnect(t, func(t *testing.T) storetest.ConnectStore { return setup(t) })
}
