package testenv

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/npmbundle"
)

// npmMu serializes NPMBundle within a test binary: parallel tests ask for
// the same bundle, and one building it while the others wait is cheaper
// than each building its own.
var npmMu sync.Mutex

// NPMBundle builds (or finds in the cache) a browser bundle from the npm
// packages pinned in dir and returns its path: see npmbundle.Build. make
// test fills the cache in its setup. Without node (18 or later) and npm the
// test is skipped, except under CI=true, where that fails it.
func NPMBundle(t testing.TB, dir string, build ...string) string {
	t.Helper()
	npmMu.Lock()
	defer npmMu.Unlock()
	out, err := npmbundle.Build(t.Context(), dir, t.Logf, build...)
	if errors.Is(err, npmbundle.ErrNoNode) && os.Getenv("CI") != "true" {
		t.Skipf("testenv.NPMBundle: %v (make node installs Debian's nodejs and npm)", err)
	}
	if err != nil {
		t.Fatalf("testenv.NPMBundle: %v; under CI=true, make node must install node and npm", err)
	}
	return out
}
