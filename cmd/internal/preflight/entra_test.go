package preflight

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// check-config --online discovers as serve does: an Entra-like multi-tenant
// provider's /common document, whose issuer is the {tenantid} template,
// passes with oidc.discovery_url and the template; a single-tenant issuer
// against that document is named with the fix.
func TestProviderMultiTenant(t *testing.T) {
	op := testenv.StartOP(t, testenv.OPOptions{Tenants: map[string]string{testenv.VIPUsername: "00000000-0000-4000-8000-0000000000aa"}})
	base := config.OIDC{DiscoveryTimeout: config.Duration(5 * time.Second), DiscoveryURL: op.CommonDiscoveryURL()}

	ok := base
	ok.Issuer, ok.AllowedTenants = op.IssuerTemplate(), []string{"00000000-0000-4000-8000-0000000000aa"}
	found := Provider(context.Background(), ok)
	if len(found) != 2 || !found[0].OK || !found[1].OK || !strings.Contains(found[0].Msg, "with their tid in place, from the tenants 00000000-0000-4000-8000-0000000000aa") {
		t.Fatalf("template issuer: %v", found)
	}

	wrong := base
	wrong.Issuer = op.TenantIssuer("00000000-0000-4000-8000-0000000000aa")
	found = Provider(context.Background(), wrong)
	if len(found) != 1 || found[0].OK || found[0].Key != "oidc.discovery_url" || !strings.Contains(found[0].Fix, `set oidc.issuer to "`+op.IssuerTemplate()+`"`) {
		t.Fatalf("one tenant's issuer against the multi-tenant document: %v", found)
	}
}
