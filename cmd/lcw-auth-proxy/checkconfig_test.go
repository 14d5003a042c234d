package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// pemFile writes one PEM block into a temp file and returns its path.
func pemFile(t *testing.T, typ string, der []byte) string {
	t.Helper()
	return writeTemp(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
}

// signingKeySection is a token section that signs with file.
func signingKeySection(file string) string {
	return fmt.Sprintf("token:\n  issuer: shop.example.com\n  signing_keys:\n    - file: %s\n", file)
}

// check-config refuses everything serve refuses, with the same message:
// each of these configurations once passed check-config and then stopped
// serve.
func TestCheckConfigRefusesWhatServeRefuses(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	shortKey, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // the point: a key too short for Omnichannel
	if err != nil {
		t.Fatal(err)
	}
	shortDER, _ := x509.MarshalPKCS8PrivateKey(shortKey)
	notPEM := writeTemp(t, "not.pem", "this is no certificate\n")

	tests := []struct {
		name, extra string
		want        []string
	}{
		{"a public key as the signing key", signingKeySection(pemFile(t, "PUBLIC KEY", pubDER)),
			[]string{"token.signing_keys", "holds only a public key", "lcw-auth-proxy keygen"}},
		{"an EC key as the signing key", signingKeySection(pemFile(t, "EC PRIVATE KEY", ecDER)),
			[]string{"token.signing_keys", "is an EC key", "RS256", "keygen"}},
		{"a 1024-bit RSA key", signingKeySection(pemFile(t, "PRIVATE KEY", shortDER)),
			[]string{"token.signing_keys", "1024 bits", "at least 2048"}},
		{"an unreadable TLS certificate", fmt.Sprintf("server:\n  tls_cert_file: %s\n  tls_key_file: %s\n", notPEM, notPEM),
			[]string{"server.tls_cert_file", "cannot load the certificate"}},
		{"a CA file that holds no certificate", fmt.Sprintf("upstream:\n  url: https://127.0.0.1:8443\n  ca_file: %s\n", notPEM),
			[]string{"upstream.ca_file", "holds no PEM certificate", "BEGIN CERTIFICATE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := baseConfig(t, "http://127.0.0.1:8080", tt.extra)
			var out bytes.Buffer
			checkErr := run(context.Background(), []string{"check-config", "--config", path}, func(string) string { return "" }, &out, io.Discard)
			if checkErr == nil {
				t.Fatalf("check-config said the configuration is valid:\n%s", out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(checkErr.Error(), w) {
					t.Errorf("check-config error lacks %q:\n%v", w, checkErr)
				}
			}
			serveErr := run(context.Background(), []string{"serve", "--config", path}, func(string) string { return "" }, io.Discard, io.Discard)
			if serveErr == nil || serveErr.Error() != checkErr.Error() {
				t.Errorf("serve: %v\ncheck-config: %v\nwant the same refusal", serveErr, checkErr)
			}
		})
	}
}

func TestCheckConfigOnline(t *testing.T) {
	op := testenv.StartOP(t, testenv.OPOptions{})
	// Any answer shows the site is there, even an error page.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken today", http.StatusInternalServerError)
	}))
	defer up.Close()
	oidc := fmt.Sprintf("oidc:\n  issuer: %s\n  client_id: %s\n  client_secret: %s\n", op.Issuer, op.ClientID, op.ClientSecret)

	t.Run("everything answers", func(t *testing.T) {
		path := baseConfig(t, up.URL, oidc)
		out, _, err := runCmd(t, nil, "check-config", "--config", path, "--online")
		if err != nil {
			t.Fatalf("check-config --online: %v\n%s", err, out)
		}
		for _, want := range []string{
			"#   ok    oidc.issuer: discovery document at " + op.Issuer + "/.well-known/openid-configuration names this issuer",
			"#   ok    oidc.issuer: key set at ",
			"#   ok    upstream.url: " + up.URL + " answers (500 Internal Server Error)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("closed ports", func(t *testing.T) {
		path := baseConfig(t, "http://"+testenv.ClosedAddr(t), fmt.Sprintf("oidc:\n  issuer: http://%s\n  client_id: c\n  client_secret: s\n", testenv.ClosedAddr(t)))
		out, _, err := runCmd(t, nil, "check-config", "--config", path, "--online")
		if err == nil || !strings.Contains(err.Error(), "2 check(s) failed") {
			t.Fatalf("check-config --online against closed ports: %v\n%s", err, out)
		}
		for _, want := range []string{
			"FAIL  oidc.issuer: discovery at ", "connection refused", "fix: check that the provider is reachable",
			"FAIL  upstream.url: ", "does not answer", "fix: start the site, or set upstream.url",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("an issuer that differs from the provider's own", func(t *testing.T) {
		path := baseConfig(t, up.URL, fmt.Sprintf("oidc:\n  issuer: %s/\n  client_id: c\n  client_secret: s\n", op.Issuer))
		out, _, err := runCmd(t, nil, "check-config", "--config", path, "--online")
		if err == nil || !strings.Contains(out, fmt.Sprintf("fix: set oidc.issuer to %q", op.Issuer)) {
			t.Fatalf("check-config --online with a trailing slash: %v\n%s", err, out)
		}
		// serve, which retries, gives the same fix beside each retry.
		p := startProxy(t, path, nil)
		waitLog(t, p, "OpenID provider discovery failed; retrying")
		line := p.Logs.lines("OpenID provider discovery failed; retrying")[0]
		if fix, _ := line["fix"].(string); !strings.Contains(fix, fmt.Sprintf("set oidc.issuer to %q", op.Issuer)) {
			t.Errorf("serve's retry has fix %q, want the issuer's exact spelling %q", fix, op.Issuer)
		}
	})

	// Offline, nothing is contacted: a closed port is no error.
	t.Run("without --online", func(t *testing.T) {
		path := baseConfig(t, "http://"+testenv.ClosedAddr(t), "")
		if out, _, err := runCmd(t, nil, "check-config", "--config", path); err != nil || strings.Contains(out, "# online checks") {
			t.Fatalf("check-config: %v\n%s", err, out)
		}
	})
}

// URLs with credentials are never printed in clear by check-config or
// serve: not in a refusal of a bad value, not in the online checks of good
// ones (a password, or a token as the user name), not in serve's logs.
func TestCredentialsInURLsAreNeverPrinted(t *testing.T) {
	const pw, tok = "s3cretPW", "t0kenSECRET"
	t.Run("refused values", func(t *testing.T) {
		path := baseConfig(t, "ftp://user:"+pw+"@127.0.0.1:8080",
			"oidc:\n  issuer: https://user:"+pw+"@idp.example:bad\n  client_id: c\npublic_url: user:"+pw+"@shop.example\n")
		for _, cmd := range []string{"check-config", "serve"} {
			out, errOut, err := runCmd(t, nil, cmd, "--config", path)
			if err == nil {
				t.Fatalf("%s accepted the configuration", cmd)
			}
			for _, k := range []string{"upstream.url", "oidc.issuer", "public_url"} {
				if !strings.Contains(err.Error(), k) {
					t.Errorf("%s: the refusal does not name %s:\n%v", cmd, k, err)
				}
			}
			if all := out + errOut + err.Error(); strings.Contains(all, pw) {
				t.Errorf("%s printed the password:\n%s", cmd, all)
			}
		}
	})
	t.Run("online checks", func(t *testing.T) {
		path := baseConfig(t, "http://"+tok+"@"+testenv.ClosedAddr(t),
			"oidc:\n  issuer: http://user:"+pw+"@"+testenv.ClosedAddr(t)+"\n  client_id: c\n  client_secret: s\n")
		out, errOut, err := runCmd(t, nil, "check-config", "--config", path, "--online")
		if err == nil || !strings.Contains(out, "FAIL  upstream.url") || !strings.Contains(out, "FAIL  oidc.issuer") {
			t.Fatalf("check-config --online: %v\n%s", err, out)
		}
		if all := out + errOut + err.Error(); strings.Contains(all, pw) || strings.Contains(all, tok) {
			t.Errorf("check-config --online printed a credential:\n%s", all)
		}
	})
	t.Run("serve logs", func(t *testing.T) {
		p := startProxy(t, baseConfig(t, "http://"+tok+"@127.0.0.1:8080",
			"oidc:\n  issuer: http://user:"+pw+"@"+testenv.ClosedAddr(t)+"\n  client_id: c\n  client_secret: s\n"), nil)
		waitLog(t, p, "OpenID provider discovery failed; retrying")
		if logs := p.Logs.String(); strings.Contains(logs, pw) || strings.Contains(logs, tok) {
			t.Errorf("serve logged a credential:\n%s", logs)
		}
	})
}

// waitLog waits until the proxy has logged msg.
func waitLog(t *testing.T, p *runningProxy, msg string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(p.Logs.lines(msg)) > 0 {
			return
		}
	}
	t.Fatalf("the proxy never logged %q:\n%s", msg, p.Logs)
}

// A valid config that cannot serve where public_url points (the example's
// ":4180" behind a loopback URL on another port) gets a warning naming the
// fix; a matching one gets none.
func TestCheckConfigWarnsWhereListenCannotServe(t *testing.T) {
	for _, tc := range []struct{ listen, want string }{
		{"\":4180\"", "# warning: listen :4180 is on port 4180, but public_url http://127.0.0.1:8081 points at port 8081"},
		{"127.0.0.1:8081", ""},
	} {
		path := baseConfig(t, "http://127.0.0.1:9", "listen: "+tc.listen+"\npublic_url: http://127.0.0.1:8081\n")
		out, _, err := runCmd(t, nil, "check-config", "--config", path)
		if err != nil {
			t.Fatalf("check-config: %v\n%s", err, out)
		}
		if got := strings.Contains(out, "# warning:"); got != (tc.want != "") || !strings.Contains(out, tc.want) {
			t.Errorf("listen %s: output lacks %q (or warns when it should not):\n%s", tc.listen, tc.want, out)
		}
	}
}

// check-config --online reaches the session store as serve does: a real
// redis-server answers; a wrong password and a closed port each fail with
// their own fix; the cookie store has nothing to check.
func TestCheckConfigOnlineRedis(t *testing.T) {
	op := testenv.StartOP(t, testenv.OPOptions{})
	redis := testenv.StartRedis(t)
	if _, err := redis.Do("ACL", "SETUSER", "lcw", "on", ">pw", "~*", "+@all"); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(redis.URL())
	oidc := fmt.Sprintf("oidc:\n  issuer: %s\n  client_id: %s\n  client_secret: %s\n", op.Issuer, op.ClientID, op.ClientSecret)
	secret := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name, url, want string
	}{
		{"answers", "redis://lcw:pw@" + u.Host, "#   ok    session.redis: Redis at redis://lcw:REDACTED@" + u.Host + " answers"},
		{"wrong password", "redis://lcw:nope@" + u.Host, "fix: check session.redis.username and password"},
		{"closed port", "redis://" + testenv.ClosedAddr(t), "fix: start Redis, or set session.redis.url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := baseConfig(t, "http://127.0.0.1:9", oidc+"session:\n  secret: "+secret+"\n  store: redis\n  redis:\n    url: "+tc.url+"\n    timeout: 500ms\n")
			out, _, _ := runCmd(t, nil, "check-config", "--config", path, "--online")
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			if strings.Contains(out, ":pw@") || strings.Contains(out, ":nope@") {
				t.Errorf("the output prints the Redis password:\n%s", out)
			}
		})
	}
	path := baseConfig(t, "http://127.0.0.1:9", oidc)
	if out, _, _ := runCmd(t, nil, "check-config", "--config", path, "--online"); strings.Contains(out, "session.redis") {
		t.Errorf("the cookie store got a Redis check:\n%s", out)
	}
}
