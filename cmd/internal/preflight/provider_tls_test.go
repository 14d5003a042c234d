package preflight

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// check-config --online reaches an IdP behind a private CA with
// oidc.ca_file, as serve does; without it the fix names the key.
func TestProviderPrivateCA(t *testing.T) {
	ca := testenv.NewPrivateCA(t)
	op := testenv.StartOP(t, testenv.OPOptions{TLS: ca.Server})
	o := config.OIDC{Issuer: op.Issuer, DiscoveryTimeout: config.Duration(5 * time.Second)}
	if f := Provider(context.Background(), o); !strings.Contains(f[0].Fix, "oidc.ca_file") {
		t.Errorf("without oidc.ca_file: %v, want the fix to name it", f)
	}
	o.RootCAs = ca.Pool // what config provisions from oidc.ca_file
	for _, f := range Provider(context.Background(), o) {
		if !f.OK {
			t.Errorf("with oidc.ca_file: %s", f)
		}
	}
}
