package token

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/http/httptest"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/ratelimit"
)

// BenchmarkTokenEndpoint is the whole token endpoint for a signed-in user
// with the reference lwicontexts rules: origin checks, mapping,
// serialization, JWT assembly, RS256 signing and the response. Compare it
// with BenchmarkRawSignPKCS1v15; the goal is at least 0.9x its rate.
func BenchmarkTokenEndpoint(b *testing.B) {
	f := newFixture(b, nil, nil)
	// A limit that never refuses: its bookkeeping is part of every token.
	lim := ratelimit.New(ratelimit.Options{PerMinute: 1 << 30, Burst: 1 << 30})
	h := TokenHandler(f.minter, signedIn(userClaims()), HandlerOptions{PublicOrigin: "https://shop.example.com", Metrics: f.metrics, Limit: lim})
	req := httptest.NewRequest("GET", "https://shop.example.com/_lcw/token", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", "https://shop.example.com")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkRawSignPKCS1v15 is the floor: one RSA-2048 PKCS#1 v1.5 signature
// of a SHA-256 digest, nothing else.
func BenchmarkRawSignPKCS1v15(b *testing.B) {
	key := testKey(b, 0)
	digest := sha256.Sum256([]byte("header.payload"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}
