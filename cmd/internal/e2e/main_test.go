package e2e

import (
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// The package's browser tests share one Chromium (testenv.Main).
func TestMain(m *testing.M) { testenv.Main(m) }
