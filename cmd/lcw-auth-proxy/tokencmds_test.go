package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// runCmd runs the program in-process and returns its output.
func runCmd(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// tokenCmdConfig writes a complete configuration whose token section signs
// with keyFile and maps the reference lwicontexts.
func tokenCmdConfig(t *testing.T, keyFile string) string {
	t.Helper()
	dir := t.TempDir()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	cfg := fmt.Sprintf(`public_url: http://127.0.0.1:4180
upstream: { url: "http://127.0.0.1:8080" }
oidc: { issuer: "http://127.0.0.1:5556/dex", client_id: lcw, client_secret: s }
session: { secret: %q }
token:
  issuer: shop.example.com
  lifetime: 10m
  subject_claim: sub
  signing_keys:
    - file: %s
%s`, base64.StdEncoding.EncodeToString(secret), keyFile, testenv.LWIContexts)
	path := filepath.Join(dir, "lcw.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKeygenTokenVerifyRoundTrip is the operator's path: make a key, mint a
// token from sample claims, verify it against the key file and a URL.
func TestKeygenTokenVerifyRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	out, _, err := runCmd(t, nil, "keygen", "--out", dir)
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	priv := filepath.Join(dir, keys.PrivateKeyFile)
	pub := filepath.Join(dir, keys.PublicKeyFile)
	if !strings.Contains(out, "- file: "+priv) || !strings.Contains(out, "kid (RFC 7638 thumbprint): ") {
		t.Fatalf("keygen output:\n%s", out)
	}
	if fi, err := os.Stat(priv); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v %v", fi, err)
	}

	cfg := tokenCmdConfig(t, priv)
	claimsFile := writeTemp(t, "claims.json", `{"sub":"87b4d06c-abc2-e811-a9b0-000d3a10e09e","email":"vip@example.com","email_verified":true,"name":{"given":"Ada"}}`)
	out, stderr, err := runCmd(t, nil, "token", "--config", cfg, "--claims", claimsFile, "--decode")
	if err != nil {
		t.Fatalf("token: %v\n%s", err, stderr)
	}
	tok := strings.SplitN(out, "\n", 2)[0]
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("token output does not start with a JWT:\n%s", out)
	}
	for _, want := range []string{`"alg": "RS256"`, `"iss": "shop.example.com"`, `"lwicontexts": "{\"customer_email\":\"vip@example.com\",\"msdyn_isvip\":true,\"region\":\"EU\"}"`, `"msdyn_isvip": true`} {
		if !strings.Contains(out, want) {
			t.Errorf("--decode output lacks %s:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "left out of lwicontexts: customer_name: claim is an object") {
		t.Errorf("the left-out key is not reported:\n%s", stderr)
	}

	// The same token verifies against the public key file…
	out, _, err = runCmd(t, nil, "verify", "--key", pub, tok)
	if err != nil || !strings.HasPrefix(out, "OK: signature verified") || !strings.Contains(out, `"customer_email": "vip@example.com"`) {
		t.Fatalf("verify with the file: %v\n%s", err, out)
	}
	// …and against a URL serving Omnichannel's formats, with flags after it.
	pemData, _ := os.ReadFile(pub)
	pubKeys, err := keys.ParsePublicKeys(pemData)
	if err != nil {
		t.Fatal(err)
	}
	kid := keys.Thumbprint(pubKeys[0])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/public-keys" {
			fmt.Fprintf(w, `[{"kid":%q,"publicKey":%q,"expiry":4102444800}]`, kid, base64.StdEncoding.EncodeToString(pemData))
			return
		}
		w.Write(pemData)
	}))
	defer srv.Close()
	for _, path := range []string{"/public-key.pem", "/public-keys"} {
		got, _, err := runCmd(t, nil, "verify", tok, "--key", srv.URL+path)
		if err != nil || !strings.HasPrefix(got, "OK") {
			t.Fatalf("verify with %s: %v\n%s", path, err, got)
		}
	}

	// A tampered token fails with the reason in words and exit code 1.
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"someone-else","iss":"shop.example.com","iat":1,"exp":2}`)) + "." + parts[2]
	out, _, err = runCmd(t, nil, "verify", "--key", pub, forged)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("forged token: err %v", err)
	}
	for _, want := range []string{"FAILED: Omnichannel would reject this token:", "the signature does not verify", "the token expired at"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
}

// keygen prints absolute paths: the snippet it suggests is pasted into a
// config elsewhere, where a relative path would mean another file.
func TestKeygenPrintsAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	out, _, err := runCmd(t, nil, "keygen", "--out", "keys")
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	priv := filepath.Join(dir, "keys", keys.PrivateKeyFile)
	for _, want := range []string{"wrote " + priv + " ", "wrote " + filepath.Join(dir, "keys", keys.PublicKeyFile) + " ", "- file: " + priv + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("keygen output lacks %q:\n%s", want, out)
		}
	}
}

func TestVerifyReadsTheTokenFromStdin(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCmd(t, nil, "keygen", "--out", dir); err != nil {
		t.Fatal(err)
	}
	cfg := tokenCmdConfig(t, filepath.Join(dir, keys.PrivateKeyFile))
	claimsFile := writeTemp(t, "claims.json", `{"sub":"s-1","email":"a@example.com"}`)
	tok, _, err := runCmd(t, map[string]string{"LCW_CONFIG": cfg}, "token", "--claims", claimsFile)
	if err != nil {
		t.Fatal(err)
	}
	r, w, _ := os.Pipe()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old }()
	go func() { w.WriteString(tok); w.Close() }()
	out, _, err := runCmd(t, nil, "verify", "--key", filepath.Join(dir, keys.PublicKeyFile), "-")
	if err != nil || !strings.HasPrefix(out, "OK") {
		t.Fatalf("verify -: %v\n%s", err, out)
	}
}

func TestTokenCommandErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCmd(t, nil, "keygen", "--out", dir); err != nil {
		t.Fatal(err)
	}
	cfg := tokenCmdConfig(t, filepath.Join(dir, keys.PrivateKeyFile))
	noSub := writeTemp(t, "claims.json", `{"email":"a@example.com"}`)
	notObject := writeTemp(t, "claims.json", `["sub"]`)
	cases := []struct {
		name  string
		args  []string
		want  string
		usage bool // exit code 2
	}{
		{"keygen without --out", []string{"keygen"}, "keygen: --out DIR is required", true},
		{"keygen small key", []string{"keygen", "--out", t.TempDir(), "--bits", "1024"}, "--bits 1024: use 2048, 3072 or 4096", true},
		{"keygen over an existing key", []string{"keygen", "--out", dir}, "already exists: move it away", false},
		{"token without --claims", []string{"token", "--config", cfg}, "--claims FILE is required", true},
		{"token without --config", []string{"token", "--claims", noSub}, "--config FILE is required", true},
		{"token without subject", []string{"token", "--config", cfg, "--claims", noSub}, `the identity's "sub" claim is missing`, false},
		{"token claims not an object", []string{"token", "--config", cfg, "--claims", notObject}, "must hold a JSON object of claims", false},
		{"verify without --key", []string{"verify", "x.y.z"}, "--key URL|FILE is required", true},
		{"verify without token", []string{"verify", "--key", "k.pem"}, "give exactly one TOKEN", true},
		{"verify with a bad key file", []string{"verify", "--key", cfg, "x.y.z"}, "not a key document", false},
		{"verify with an unreachable URL", []string{"verify", "--key", "http://127.0.0.1:1/keys", "x.y.z"}, "fetch key URL", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, nil, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if got := exitCode(err) == 2; got != tc.usage {
				t.Fatalf("exit code %d for %v", exitCode(err), err)
			}
		})
	}
}

// token --claims drops a claims file's _lcw_contact as serve drops an
// IdP's: only the Dataverse lookup sets sub to a record.
func TestTokenIgnoresContactClaim(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if _, _, err := runCmd(t, nil, "keygen", "--out", dir); err != nil {
		t.Fatal(err)
	}
	cfg := tokenCmdConfig(t, filepath.Join(dir, keys.PrivateKeyFile))
	claimsFile := writeTemp(t, "claims.json", `{"sub":"idp-1","_lcw_contact":{"r":"linked","id":"00000000-0000-4000-8000-000000000bad"}}`)
	out, stderr, err := runCmd(t, nil, "token", "--config", cfg, "--claims", claimsFile, "--decode")
	if err != nil {
		t.Fatalf("token: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, `"sub": "idp-1"`) || !strings.Contains(stderr, "_lcw_contact left out") {
		t.Fatalf("out:\n%s\nstderr:\n%s", out, stderr)
	}
}
