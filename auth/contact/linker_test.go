package contact

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// world is the test OP (which issues the app tokens) and the Dataverse
// stand-in that checks them.
type world struct {
	op *testenv.OP
	dv *testenv.Dataverse
}

func newWorld(t *testing.T, opts testenv.DataverseOptions) world {
	op := testenv.StartOP(t, testenv.OPOptions{})
	opts.OP = op
	return world{op: op, dv: testenv.StartDataverse(t, opts)}
}

// section is token.contact as config.Load provisions it, pointed at the
// stand-in and the OP's token endpoint.
func (w world) section(edit func(*config.Contact)) config.Contact {
	c := config.Default().Token.Contact
	c.OrgURL, c.TokenURL = w.dv.URL, w.op.TokenURL()
	c.ClientID, c.ClientSecret = w.op.AppClientID, w.op.AppClientSecret
	c.Timeout = config.Duration(5 * time.Second)
	if edit != nil {
		edit(&c)
	}
	c.Org, c.Scope, c.TokenEndpoint = c.OrgURL, c.OrgURL+"/.default", c.TokenURL
	return c
}

func (w world) linker(t *testing.T, m *metrics.Metrics, now func() time.Time, edit func(*config.Contact)) *Linker {
	l, err := New(Options{Contact: w.section(edit), Metrics: m, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func verified(email string) map[string]any {
	return map[string]any{"sub": "idp-1", "email": email, "email_verified": true, "given_name": "Ann", "family_name": "Lee"}
}

// Each outcome of a lookup, as the stand-in answers it.
func TestLinkOutcomes(t *testing.T) {
	w := newWorld(t, testenv.DataverseOptions{})
	ann := w.dv.Add("contact", map[string]string{"emailaddress1": "Ann@Example.com"}, false)
	w.dv.Add("contact", map[string]string{"emailaddress1": "twin@example.com"}, false)
	w.dv.Add("contact", map[string]string{"emailaddress1": "twin@example.com"}, false)
	w.dv.Add("contact", map[string]string{"emailaddress1": "gone@example.com"}, true)
	quote := w.dv.Add("contact", map[string]string{"emailaddress1": "o'brien@example.com"}, false)
	acct := w.dv.Add("account", map[string]string{"emailaddress1": "ann@example.com"}, false)
	m := metrics.New()
	l := w.linker(t, m, nil, nil)

	for _, tt := range []struct {
		name   string
		claims map[string]any
		result string
		id     string
	}{
		{"one active contact", verified("ann@example.com"), claims.ContactLinked, ann},
		{"a quote in the address", verified("o'brien@example.com"), claims.ContactLinked, quote},
		{"two active contacts: no guess", verified("twin@example.com"), claims.ContactAmbiguous, ""},
		{"only an inactive contact", verified("gone@example.com"), claims.ContactNoMatch, ""},
		{"nobody", verified("new@example.com"), claims.ContactNoMatch, ""},
		{"unverified email is never matched", map[string]any{"sub": "x", "email": "ann@example.com", "email_verified": false}, claims.ContactNoClaim, ""},
		{"Entra's xms_edov counts as verified", map[string]any{"sub": "x", "email": "ann@example.com", "xms_edov": true}, claims.ContactLinked, ann},
		{"no email at all", map[string]any{"sub": "x"}, claims.ContactNoClaim, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := l.Link(context.Background(), tt.claims, nil)
			if got.Result != tt.result || got.ID != tt.id {
				t.Fatalf("Link = %+v, want %s %q", got, tt.result, tt.id)
			}
			if got.Next.IsZero() || got.Next.Before(time.Now().Add(30*time.Minute)) {
				t.Errorf("Next %v: an answer stands for token.contact.recheck (1h)", got.Next)
			}
		})
	}
	if n := w.dv.Lookups(); n != 6 {
		t.Errorf("the stand-in answered %d lookups, want 6 (none for the claims that cannot be matched)", n)
	}
	if n := w.op.AppTokenRequests(); n != 1 {
		t.Errorf("%d app tokens fetched for 6 lookups: the token is cached until it expires", n)
	}
	if v := testutil.ToFloat64(m.ContactLookups.WithLabelValues("linked")); v != 3 {
		t.Errorf("lcw_contact_lookups_total{result=linked} = %v, want 3", v)
	}
	if v := testutil.ToFloat64(m.ContactLookups.WithLabelValues("ambiguous")); v != 1 {
		t.Errorf("lcw_contact_lookups_total{result=ambiguous} = %v, want 1", v)
	}

	t.Run("accounts", func(t *testing.T) {
		la := w.linker(t, nil, nil, func(c *config.Contact) { c.Table = config.TableAccount })
		if got := la.Link(context.Background(), verified("ann@example.com"), nil); got.Result != claims.ContactLinked || got.ID != acct {
			t.Fatalf("Link = %+v, want the account %s", got, acct)
		}
	})
	t.Run("a custom column and claim", func(t *testing.T) {
		id := w.dv.Add("contact", map[string]string{"cr123_customernumber": "1001"}, false)
		lc := w.linker(t, nil, nil, func(c *config.Contact) {
			c.Match = config.ContactMatch{Claim: "customer.number", Column: "cr123_customernumber"}
		})
		got := lc.Link(context.Background(), map[string]any{"sub": "x", "customer": map[string]any{"number": float64(1001)}}, nil)
		if got.Result != claims.ContactLinked || got.ID != id {
			t.Fatalf("Link = %+v, want %s", got, id)
		}
	})
}

// on_no_match: create makes the contact (with Prefer:
// return=representation) and links it; a role without create is an error,
// and the sign-in goes on unlinked.
func TestLinkCreates(t *testing.T) {
	w := newWorld(t, testenv.DataverseOptions{})
	l := w.linker(t, nil, nil, func(c *config.Contact) {
		c.OnNoMatch, c.Create = config.NoMatchCreate, map[string]string{"firstname": "given_name", "lastname": "family_name", "jobtitle": "missing"}
	})
	got := l.Link(context.Background(), verified("new@example.com"), nil)
	if got.Result != claims.ContactCreated || !claims.IsRecordID(got.ID) {
		t.Fatalf("Link = %+v, want created with a GUID", got)
	}
	made := w.dv.Created()
	if len(made) != 1 || made[0]["emailaddress1"] != "new@example.com" || made[0]["firstname"] != "Ann" || made[0]["lastname"] != "Lee" || len(made[0]) != 3 {
		t.Fatalf("created %v", made)
	}
	if again := l.Link(context.Background(), verified("new@example.com"), nil); again.Result != claims.ContactLinked || again.ID != got.ID {
		t.Fatalf("the next sign-in finds the created contact: %+v", again)
	}

	denied := newWorld(t, testenv.DataverseOptions{DenyCreate: true})
	ld := denied.linker(t, nil, nil, func(c *config.Contact) { c.OnNoMatch = config.NoMatchCreate })
	if got := ld.Link(context.Background(), verified("new@example.com"), nil); got.Result != claims.ContactError || got.ID != "" || got.Next.IsZero() {
		t.Fatalf("Link with a read-only role = %+v, want error, unlinked, due again", got)
	}
}

// Dataverse down, slow or throttling: the fallback at once (within the
// timeout), an earlier link kept, and the lookup due at the next refresh
// (after Retry-After for a 429, during which nothing is sent).
func TestLinkFailures(t *testing.T) {
	w := newWorld(t, testenv.DataverseOptions{})
	ann := w.dv.Add("contact", map[string]string{"emailaddress1": "ann@example.com"}, false)
	now := time.Now()
	clock := func() time.Time { return now }
	l := w.linker(t, nil, clock, func(c *config.Contact) { c.Timeout = config.Duration(300 * time.Millisecond) })
	linked := l.Link(context.Background(), verified("ann@example.com"), nil)
	if linked.ID != ann {
		t.Fatalf("Link = %+v", linked)
	}

	t.Run("not due: no call", func(t *testing.T) {
		before := w.dv.Requests()
		if got := l.Link(context.Background(), verified("ann@example.com"), &linked); got != linked || w.dv.Requests() != before {
			t.Fatalf("Link = %+v after %d requests; want the same link and no call", got, w.dv.Requests()-before)
		}
	})
	due := linked
	due.Next = now

	t.Run("down", func(t *testing.T) {
		w.dv.SetDown(true)
		defer w.dv.SetDown(false)
		got := l.Link(context.Background(), verified("ann@example.com"), &due)
		if got.Result != claims.ContactUnavailable || got.ID != ann || !got.Due(now) {
			t.Fatalf("Link = %+v, want unavailable, the earlier link kept, due at the next refresh", got)
		}
		if first := l.Link(context.Background(), verified("ann@example.com"), nil); first.Result != claims.ContactUnavailable || first.ID != "" {
			t.Fatalf("at sign-in: %+v, want unavailable and no link (sub falls back to the IdP's subject)", first)
		}
	})

	t.Run("slow: the timeout ends the wait", func(t *testing.T) {
		w.dv.Hold()
		defer w.dv.Release()
		got := l.Link(context.Background(), verified("ann@example.com"), nil)
		if got.Result != claims.ContactUnavailable || got.ID != "" || !got.Due(now) {
			t.Fatalf("Link = %+v, want unavailable", got)
		}
	})

	t.Run("429 honours Retry-After", func(t *testing.T) {
		w.dv.Throttle(5, 120)
		defer w.dv.Throttle(0, 0)
		before := w.dv.Requests()
		got := l.Link(context.Background(), verified("ann@example.com"), &due)
		if got.Result != claims.ContactThrottled || got.ID != ann || !got.Next.Equal(now.Add(120*time.Second)) {
			t.Fatalf("Link = %+v, want throttled, link kept, due after Retry-After", got)
		}
		// Other sessions wait too: nothing is sent during the pause.
		other := l.Link(context.Background(), verified("ann@example.com"), nil)
		if other.Result != claims.ContactThrottled || w.dv.Requests()-before != 1 {
			t.Fatalf("second Link = %+v after %d requests; want throttled without a call", other, w.dv.Requests()-before)
		}
		now = now.Add(121 * time.Second) // the pause is over
		w.dv.Throttle(0, 0)
		if got := l.Link(context.Background(), verified("ann@example.com"), &got); got.Result != claims.ContactLinked || got.ID != ann {
			t.Fatalf("after Retry-After: %+v", got)
		}
	})
}

// The app registration is checked: a wrong secret gets no token (an error
// in the log, no link), and the stand-in refuses requests without a valid
// bearer with 401.
func TestLinkAuth(t *testing.T) {
	w := newWorld(t, testenv.DataverseOptions{})
	w.dv.Add("contact", map[string]string{"emailaddress1": "ann@example.com"}, false)
	bad := w.linker(t, nil, nil, func(c *config.Contact) { c.ClientSecret = "wrong" })
	if got := bad.Link(context.Background(), verified("ann@example.com"), nil); got.Result != claims.ContactError || got.ID != "" {
		t.Fatalf("Link with a wrong secret = %+v, want error", got)
	}
	if w.dv.Requests() != 0 {
		t.Errorf("the stand-in got %d requests without a token", w.dv.Requests())
	}

	filter := "?$select=contactid&$filter=" + strings.ReplaceAll("emailaddress1 eq 'ann@example.com' and statecode eq 0", " ", "%20")
	forged, err := w.op.Sign(map[string]any{"iss": w.op.Issuer, "aud": "https://other.crm.dynamics.com", "client_id": w.op.AppClientID, "sub": w.op.AppClientID,
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for name, auth := range map[string]string{
		"no token":                "",
		"not a JWT":               "Bearer abc",
		"a token for another org": "Bearer " + forged,
	} {
		req, _ := http.NewRequest(http.MethodGet, w.dv.URL+"/api/data/v9.2/contacts"+filter, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, resp.StatusCode)
		}
	}
	if w.dv.Lookups() != 0 {
		t.Errorf("%d lookups answered without a valid token", w.dv.Lookups())
	}
}

// The stand-in answers a badly escaped $filter as Dataverse does: 400
// with the error JSON, even with a valid app token.
func TestStandInAnswersSyntaxErrors(t *testing.T) {
	w := newWorld(t, testenv.DataverseOptions{})
	l := w.linker(t, nil, nil, nil)
	tok, err := l.api.token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	q := "?$select=contactid&$filter=" + url.QueryEscape("emailaddress1 eq 'o'brien@example.com' and statecode eq 0")
	req, _ := http.NewRequest(http.MethodGet, w.dv.URL+"/api/data/v9.2/contacts"+q, nil)
	tok.SetAuthHeader(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if resp.StatusCode != http.StatusBadRequest || json.NewDecoder(resp.Body).Decode(&body) != nil || body.Error.Code == "" || !strings.Contains(body.Error.Message, "Syntax error") {
		t.Fatalf("%d %+v, want 400 with the error JSON", resp.StatusCode, body)
	}
}

// Certificate credentials: each app token is asked for with a fresh client
// assertion signed by the certificate's key, which the OP checks (as Entra
// ID does); another certificate gets no token.
func TestLinkWithCertificate(t *testing.T) {
	certFile, keyFile, cert := testenv.AppCertificate(t)
	op := testenv.StartOP(t, testenv.OPOptions{AppCertificate: cert})
	dv := testenv.StartDataverse(t, testenv.DataverseOptions{OP: op})
	ann := dv.Add("contact", map[string]string{"emailaddress1": "ann@example.com"}, false)
	w := world{op: op, dv: dv}
	withCert := func(certFile, keyFile string) *Linker {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return w.linker(t, nil, nil, func(c *config.Contact) { c.ClientSecret, c.Certificate = "", &pair })
	}
	l := withCert(certFile, keyFile)
	for range 2 {
		if got := l.Link(context.Background(), verified("ann@example.com"), nil); got.Result != claims.ContactLinked || got.ID != ann {
			t.Fatalf("Link = %+v, want %s", got, ann)
		}
	}
	if n := op.AppTokenRequests(); n != 1 {
		t.Errorf("%d app token requests, want 1 (cached)", n)
	}
	otherCert, otherKey, _ := testenv.AppCertificate(t)
	if got := withCert(otherCert, otherKey).Link(context.Background(), verified("ann@example.com"), nil); got.Result != claims.ContactError {
		t.Fatalf("Link with a certificate the app does not have = %+v, want error", got)
	}
}
