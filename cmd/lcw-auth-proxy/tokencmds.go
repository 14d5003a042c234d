package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/token"
)

// keyFetchTimeout bounds verify's download of a public key URL.
const keyFetchTimeout = 10 * time.Second

// maxKeyDocument bounds a downloaded or read key document.
const maxKeyDocument = 1 << 20

// keygenCmd writes a new RSA signing key pair.
func keygenCmd(_ context.Context, args []string, _ func(string) string, stdout, _ io.Writer) error {
	fs := newFlagSet("keygen")
	out := fs.String("out", "", "directory for the key pair (created 0700 if missing)")
	bits := fs.Int("bits", 2048, "RSA key size: 2048, 3072 or 4096")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usageError{fmt.Sprintf("keygen: unexpected argument %q", rest[0])}
	case *out == "":
		return usageError{"keygen: --out DIR is required"}
	case *bits != 2048 && *bits != 3072 && *bits != 4096:
		return usageError{fmt.Sprintf("keygen: --bits %d: use 2048, 3072 or 4096 (Omnichannel needs at least 2048)", *bits)}
	}
	key, err := keys.Generate(*bits)
	if err != nil {
		return err
	}
	// Absolute, so the paths printed below work whatever directory the
	// config that lists them ends up in.
	dir, err := filepath.Abs(*out)
	if err != nil {
		return fmt.Errorf("keygen: --out %s: %w", *out, err)
	}
	priv, pub, err := keys.WriteKeyPair(dir, key)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `wrote %s (private key, PKCS#8, mode 0600)
wrote %s (public key, for reference; the proxy serves it at {prefix}/public-key.pem)
kid (RFC 7638 thumbprint): %s

Configure it with:
  token:
    signing_keys:
      - file: %s
`, priv, pub, keys.Thumbprint(&key.PublicKey), priv)
	return nil
}

// tokenCmd mints a token offline from a claims file with the configured keys
// and rules, to try a mapping without signing in.
func tokenCmd(ctx context.Context, args []string, proc process, stdout, stderr io.Writer) error {
	var claimsPath string
	var decode bool
	path, err := configPath("token", args, proc, func(fs *flag.FlagSet) {
		fs.StringVar(&claimsPath, "claims", "", "JSON file of identity claims (- for stdin)")
		fs.BoolVar(&decode, "decode", false, "also print the decoded header and payload")
	})
	switch {
	case err != nil:
		return err
	case claimsPath == "":
		return usageError{"token: --claims FILE is required: a JSON object of ID token claims, e.g. {\"sub\": \"…\", \"email\": \"…\"}"}
	}
	cfg, err := proc.loadConfig(path)
	if err != nil {
		return err
	}
	idClaims, err := readClaims(claimsPath)
	if err != nil {
		return err
	}
	// The claims a session would keep: serve applies the same function.
	idClaims = trustedClaims(idClaims, cfg.OIDC.AllowUnverifiedEmail, stderr)
	ks, err := keys.Load(cfg.Token.SigningKeys, keys.Options{Grace: cfg.Token.RetiredKeyGrace.D()})
	if err != nil {
		return err
	}
	if cfg.Token.ContextURL != "" {
		fmt.Fprintln(stderr, "note: token.context_url is not called offline; its keys are left out")
	}
	if _, sent := idClaims[claims.ContactClaim]; sent {
		// As serve: only the lookup sets the link, never a claim.
		delete(idClaims, claims.ContactClaim)
		fmt.Fprintf(stderr, "note: %s left out, as serve does: only the Dataverse lookup links a session to a record\n", claims.ContactClaim)
	}
	if cfg.Token.Contact.Enabled() {
		fmt.Fprintln(stderr, "note: token.contact's Dataverse lookup is not made offline; sub is token.subject_claim, as after a lookup that found nothing")
	}
	m := token.NewMinter(token.MinterOptions{Token: cfg.Token, Keys: ks})
	p, err := m.Payload(ctx, idClaims)
	if err != nil {
		return err
	}
	for _, pr := range p.Problems {
		fmt.Fprintf(stderr, "left out of lwicontexts: %s: %s\n", pr.Key, pr.Reason)
	}
	tok, _, err := m.Mint(ctx, idClaims)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	if decode {
		return printDecoded(stdout, tok)
	}
	return nil
}

// trustedClaims applies serve's email rules (claims.Trusted) to a claims
// file and says on w when they drop an address.
func trustedClaims(c map[string]any, allowUnverified bool, w io.Writer) map[string]any {
	out := claims.Trusted(c, allowUnverified)
	for _, k := range []string{"email", "emails"} {
		if _, had := c[k]; had {
			if _, kept := out[k]; !kept {
				fmt.Fprintf(w, "note: %s left out, as serve does: not verified (no email_verified: true, nor Entra's xms_edov: true) and oidc.allow_unverified_email is false\n", k)
			}
		}
	}
	return out
}

func readClaims(path string) (map[string]any, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, maxKeyDocument))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read claims: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // as the session decodes them: large numbers keep their digits
	var c map[string]any
	if err := dec.Decode(&c); err != nil || c == nil {
		return nil, fmt.Errorf("claims file %s must hold a JSON object of claims: %v", path, err)
	}
	return c, nil
}

// printDecoded prints the header, the payload and the lwicontexts object.
func printDecoded(w io.Writer, tok string) error {
	mc := jwt.MapClaims{}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, mc)
	if err != nil {
		return fmt.Errorf("decode token: %w", err)
	}
	show := func(label string, v any) {
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintf(w, "%s: %s\n", label, b)
	}
	show("header", parsed.Header)
	show("payload", map[string]any(mc))
	if s, ok := mc["lwicontexts"].(string); ok {
		var obj any
		if json.Unmarshal([]byte(s), &obj) == nil {
			show("lwicontexts (decoded)", obj)
		}
	}
	return nil
}

// verifyCmd checks a token the way Omnichannel does, against a public key
// URL or file in any published format.
func verifyCmd(ctx context.Context, args []string, _ func(string) string, stdout, _ io.Writer) error {
	fs := newFlagSet("verify")
	keyRef := fs.String("key", "", "public key URL or file: PEM, Omnichannel's JSON array or a JWKS")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *keyRef == "":
		return usageError{"verify: --key URL|FILE is required (e.g. https://shop.example.com/_lcw/public-keys)"}
	case len(rest) != 1:
		return usageError{"verify: give exactly one TOKEN (or - to read it from stdin)"}
	}
	tok := rest[0]
	if tok == "-" {
		data, err := io.ReadAll(io.LimitReader(os.Stdin, maxKeyDocument))
		if err != nil {
			return fmt.Errorf("read token from stdin: %w", err)
		}
		tok = string(data)
	}
	doc, err := readKeyDocument(ctx, *keyRef)
	if err != nil {
		return err
	}
	pub, err := token.ParseKeyDocument(doc)
	if err != nil {
		return fmt.Errorf("key document %s: %w", *keyRef, err)
	}
	rep, verr := token.Verify(tok, pub, time.Now())
	if rep.OK() {
		kid := rep.Kid
		if kid == "" {
			kid = "(the PEM key)"
		}
		fmt.Fprintf(stdout, "OK: signature verified with key %s; Omnichannel's checks pass\n", kid)
	} else {
		fmt.Fprintln(stdout, "FAILED: Omnichannel would reject this token:")
		for _, f := range rep.Failures {
			fmt.Fprintf(stdout, "  - %s\n", f)
		}
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	if rep.Header != nil {
		show := func(label string, v any) {
			b, _ := json.MarshalIndent(v, "", "  ")
			fmt.Fprintf(stdout, "%s: %s\n", label, b)
		}
		show("header", rep.Header)
		show("claims", rep.Claims)
		if rep.LWIContexts != nil {
			show("lwicontexts (decoded)", rep.LWIContexts)
		}
	}
	if verr != nil {
		return fmt.Errorf("token rejected: %d problem(s), listed above", len(rep.Failures))
	}
	return nil
}

func readKeyDocument(ctx context.Context, ref string) ([]byte, error) {
	if !strings.HasPrefix(ref, "http://") && !strings.HasPrefix(ref, "https://") {
		data, err := os.ReadFile(ref)
		if err != nil {
			return nil, fmt.Errorf("read key file: %w", err)
		}
		return data, nil
	}
	ctx, cancel := context.WithTimeout(ctx, keyFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
	if err != nil {
		return nil, fmt.Errorf("key URL %s: %w", ref, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch key URL: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch key URL %s: %s (Omnichannel needs it reachable without login)", ref, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyDocument))
	if err != nil {
		return nil, fmt.Errorf("fetch key URL %s: %w", ref, err)
	}
	return data, nil
}
