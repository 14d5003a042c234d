package token

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
	rsa1024 *rsa.PrivateKey
)

// testKey returns one of two 2048-bit keys generated once per test binary.
func testKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			panic(err)
		}
		rsa1024 = k
	})
	return rsaKeys[i]
}

func writeKey(t testing.TB, path string, k *rsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fixture is a minter over one key file, with clocks the test controls.
type fixture struct {
	cfg     config.Token
	keyFile string
	keys    *keys.Set
	minter  *Minter
	metrics *metrics.Metrics
	now     time.Time
	keyNow  time.Time
}

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// testConfig is the reference configuration's token section.
func testConfig() config.Token {
	cfg := config.Default().Token
	cfg.Issuer = "shop.example.com"
	cfg.LWIContexts = map[string]config.ContextRule{
		"customer_email": {Claim: "email"},
		"customer_name":  {Claim: "name"},
		"msdyn_isvip":    {Claim: "email", Equals: "vip@example.com", Type: "boolean"},
		"region":         {Value: "EU"},
	}
	return cfg
}

func newFixture(t testing.TB, mutate func(*config.Token), enrich Enricher) *fixture {
	t.Helper()
	f := &fixture{cfg: testConfig(), metrics: metrics.New(), now: testNow, keyNow: testNow}
	f.keyFile = filepath.Join(t.TempDir(), "lcw-signing-key.pem")
	writeKey(t, f.keyFile, testKey(t, 0))
	f.cfg.SigningKeys = []config.SigningKey{{File: f.keyFile}}
	if mutate != nil {
		mutate(&f.cfg)
	}
	ks, err := keys.Load(f.cfg.SigningKeys, keys.Options{Grace: f.cfg.RetiredKeyGrace.D(), Metrics: f.metrics, Now: func() time.Time { return f.keyNow }})
	if err != nil {
		t.Fatal(err)
	}
	f.keys = ks
	f.minter = NewMinter(MinterOptions{Token: f.cfg, Keys: ks, Enricher: enrich, Metrics: f.metrics})
	f.minter.now = func() time.Time { return f.now }
	return f
}

// userClaims are a verified ID token's claims.
func userClaims() map[string]any {
	return map[string]any{
		"sub":            "87b4d06c-abc2-e811-a9b0-000d3a10e09e",
		"email":          "vip@example.com",
		"name":           "Ada Lovelace",
		"email_verified": true,
	}
}

func signedIn(c map[string]any) IdentityFunc {
	return func(*http.Request) (Identity, error) {
		return Identity{Claims: c, SessionExpiry: testNow.Add(12 * time.Hour)}, nil
	}
}
