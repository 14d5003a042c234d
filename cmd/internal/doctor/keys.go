package doctor

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/token"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// published is what the key documents hold; nil where one was unusable.
type published struct {
	pem   *rsa.PublicKey
	multi []keys.PublicKey
	jwks  []keys.PublicKey
}

// checkKeys fetches the three key documents as Omnichannel's servers do
// (no cookies, redirects not followed) and checks each and their agreement.
func (c *check) checkKeys(ctx context.Context) {
	c.keys.pem = c.checkPEM(ctx)
	if body, ok := c.fetchPublic(ctx, "public-keys"); ok {
		c.keys.multi = c.checkKeyDocument("public-keys", body, '[', "Omnichannel's multi-key format")
	}
	if body, ok := c.fetchPublic(ctx, "jwks.json"); ok {
		c.keys.jwks = c.checkKeyDocument("jwks.json", body, '{', "JWKS")
	}
	c.checkKeyAgreement()
}

// fetchPublic gets a key document without credentials: a sign-in page, a
// redirect to one or a refusal is what Omnichannel would get too.
func (c *check) fetchPublic(ctx context.Context, name string) ([]byte, bool) {
	u := c.endpoint(name)
	behindLogin := fmt.Sprintf("serve %s/ without a sign-in (exclude it from the site's or the ingress's authentication); Omnichannel's servers fetch the key without a session", c.opt.Prefix)
	resp, body, err := c.get(ctx, http.MethodGet, u, map[string]string{"Accept": "*/*"})
	switch {
	case err != nil:
		c.add(Error, "keys", fmt.Sprintf("%s: %v", u, err), "make the site reachable from the internet: Omnichannel's servers fetch the public key URL")
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		c.add(Error, "keys", fmt.Sprintf("%s redirects to %s: the key is behind a sign-in", u, resp.Header.Get("Location")), behindLogin)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		c.add(Error, "keys", fmt.Sprintf("%s answers %s: the key is behind a sign-in", u, resp.Status), behindLogin)
	case resp.StatusCode != http.StatusOK:
		c.add(Error, "keys", fmt.Sprintf("%s answers %s", u, resp.Status), fmt.Sprintf("check --prefix (the proxy's prefix, default %s) and that the proxy serves %s/", config.Default().Prefix, c.opt.Prefix))
	case bytes.Contains(bytes.ToLower(body[:min(len(body), 512)]), []byte("<html")) || bytes.Contains(bytes.ToLower(body[:min(len(body), 512)]), []byte("<!doctype")):
		c.add(Error, "keys", fmt.Sprintf("%s answers an HTML page, not a key: the key is behind a sign-in page", u), behindLogin)
	default:
		return body, true
	}
	return nil, false
}

// checkPEM checks the single-key public key URL: one SPKI PEM RSA key of
// at least 2048 bits, as `openssl rsa -pubout` writes it.
func (c *check) checkPEM(ctx context.Context) *rsa.PublicKey {
	body, ok := c.fetchPublic(ctx, "public-key.pem")
	if !ok {
		return nil
	}
	u := c.endpoint("public-key.pem")
	block, _ := pem.Decode(bytes.TrimSpace(body))
	switch {
	case block == nil:
		c.add(Error, "keys", u+" is not PEM", "serve the RSA public key as -----BEGIN PUBLIC KEY----- (SPKI)")
		return nil
	case block.Type == "RSA PUBLIC KEY":
		c.add(Error, "keys", u+" is a PKCS#1 RSA PUBLIC KEY: Omnichannel documents SPKI", "serve -----BEGIN PUBLIC KEY----- (openssl rsa -pubout writes it)")
		return nil
	case block.Type != "PUBLIC KEY":
		c.add(Error, "keys", fmt.Sprintf("%s holds a %s block, not a PUBLIC KEY", u, block.Type), "serve the RSA public key as -----BEGIN PUBLIC KEY----- (SPKI)")
		return nil
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	rk, isRSA := k.(*rsa.PublicKey)
	switch {
	case err != nil:
		c.add(Error, "keys", fmt.Sprintf("%s: %v", u, err), "serve the RSA public key as -----BEGIN PUBLIC KEY----- (SPKI)")
		return nil
	case !isRSA:
		c.add(Error, "keys", fmt.Sprintf("%s holds a %T, not an RSA key: Omnichannel documents RS256 only", u, k), "sign with an RSA key (lcw-auth-proxy keygen)")
		return nil
	case rk.N.BitLen() < keys.MinBits:
		c.add(Error, "keys", fmt.Sprintf("%s is an RSA key of %d bits: Omnichannel needs at least %d", u, rk.N.BitLen(), keys.MinBits), "rotate to a 2048-bit or larger key (lcw-auth-proxy keygen)")
		return nil
	}
	c.ok("keys", "%s: RSA %d-bit public key (SPKI PEM), served without sign-in", u, rk.N.BitLen())
	return rk
}

// checkKeyDocument checks a multi-key document: Omnichannel's JSON array
// (first byte '[') or a JWKS ('{').
func (c *check) checkKeyDocument(name string, body []byte, first byte, format string) []keys.PublicKey {
	u := c.endpoint(name)
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != first {
		c.add(Error, "keys", fmt.Sprintf("%s is not in %s", u, format), fmt.Sprintf("serve %s there (the proxy does)", format))
		return nil
	}
	pub, err := token.ParseKeyDocument(body)
	if err != nil {
		c.add(Error, "keys", fmt.Sprintf("%s: %v", u, err), fmt.Sprintf("serve well-formed %s (the proxy does)", format))
		return nil
	}
	now := c.opt.Now()
	live := 0
	for _, k := range pub {
		switch {
		case k.Key.N.BitLen() < keys.MinBits:
			c.add(Error, "keys", fmt.Sprintf("%s: key %q has %d bits: Omnichannel needs at least %d", u, k.Kid, k.Key.N.BitLen(), keys.MinBits), "remove it and sign with a 2048-bit or larger key")
		case !k.Expiry.IsZero() && !now.Before(k.Expiry):
			c.add(Warn, "keys", fmt.Sprintf("%s: key %q expired at %s: Omnichannel no longer uses it", u, k.Kid, k.Expiry.UTC().Format("2006-01-02 15:04 MST")), "drop it from the document, or extend token.retired_key_grace if tokens it signed are still in use")
		default:
			live++
		}
	}
	if live == 0 {
		c.add(Error, "keys", u+" holds no usable key", "publish the signing key")
		return pub
	}
	c.ok("keys", "%s: %d key(s) in %s (kid %s), served without sign-in", u, len(pub), format, kids(pub))
	return pub
}

// checkKeyAgreement: every format must publish the same keys, or a token
// verifies with one public key URL and fails with another.
func (c *check) checkKeyAgreement() {
	m, j, p := c.keys.multi, c.keys.jwks, c.keys.pem
	if m != nil && j != nil {
		if kids(m) != kids(j) {
			c.add(Error, "keys", fmt.Sprintf("public-keys publishes kid %s but jwks.json kid %s", kids(m), kids(j)), "publish the same keys in every format (the proxy does; check a cache or CDN in front of it)")
		} else if !sameKeys(m, j) {
			c.add(Error, "keys", "public-keys and jwks.json publish different keys under the same kids", "publish the same keys in every format (check a cache or CDN in front of the proxy)")
		} else {
			c.ok("keys", "public-keys and jwks.json agree (kid %s)", kids(m))
		}
	}
	if p != nil && m != nil {
		found := false
		for _, k := range m {
			found = found || k.Key.Equal(p)
		}
		if !found {
			c.add(Error, "keys", "the key in public-key.pem is not among public-keys", "publish the signing key in every format (check a cache or CDN in front of the proxy)")
		} else {
			c.ok("keys", "public-key.pem is one of the keys in public-keys")
		}
	}
}

// kids lists the kids of pub, sorted.
func kids(pub []keys.PublicKey) string {
	var s []string
	for _, k := range pub {
		s = append(s, k.Kid)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

func sameKeys(a, b []keys.PublicKey) bool {
	byKid := map[string]*rsa.PublicKey{}
	for _, k := range b {
		byKid[k.Kid] = k.Key
	}
	for _, k := range a {
		if o := byKid[k.Kid]; o == nil || !o.Equal(k.Key) {
			return false
		}
	}
	return true
}
