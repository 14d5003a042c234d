package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/doctor"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// contactEnv is the proxy with token.contact pointed at a Dataverse
// stand-in that trusts the OP's app tokens; refresh is YAML for the
// session section (e.g. a refresh_interval).
func contactEnv(t *testing.T, session string, setup func(dv *testenv.Dataverse)) (*env, *testenv.Dataverse) {
	return contactEnvWith(t, testenv.OPOptions{}, session, setup)
}

func contactEnvWith(t *testing.T, op testenv.OPOptions, session string, setup func(dv *testenv.Dataverse)) (*env, *testenv.Dataverse) {
	t.Helper()
	var dv *testenv.Dataverse
	secretFile := filepath.Join(t.TempDir(), "dataverse-secret")
	e := startEnv(t, envOptions{
		OP: op,
		ExtraFor: func(op *testenv.OP) string {
			dv = testenv.StartDataverse(t, testenv.DataverseOptions{OP: op})
			if setup != nil {
				setup(dv)
			}
			if err := os.WriteFile(secretFile, []byte(op.AppClientSecret), 0o600); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf(`session:
  secret: "{secret}"
%stoken:
  issuer: shop.example.com
  signing_keys:
    - file: "{keyfile}"
%s  contact:
    org_url: %s
    token_url: %s
    client_id: %s
    client_secret_file: %s
    subject_context: idp_subject
`, session, testenv.LWIContexts, dv.URL, op.TokenURL(), op.AppClientID, secretFile)
		},
	})
	return e, dv
}

// chatToken fetches a token as bootstrap.js does and returns its verified
// claims.
func chatToken(t *testing.T, e *env, c *http.Client) (claims map[string]any, contexts map[string]any) {
	t.Helper()
	resp := testenv.Do(t, c, "GET", e.URL+"/_lcw/token", map[string]string{"Sec-Fetch-Site": "same-origin"})
	tok := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %s", resp.StatusCode, tok)
	}
	claims = verifyWithPublishedKey(t, e, tok)
	if err := json.Unmarshal([]byte(claims["lwicontexts"].(string)), &contexts); err != nil {
		t.Fatal(err)
	}
	return claims, contexts
}

// sessionContact reads {prefix}/session's contact member.
func sessionContact(t *testing.T, e *env, c *http.Client) (result string, fromDataverse bool) {
	t.Helper()
	resp := testenv.Do(t, c, "GET", e.URL+"/_lcw/session", map[string]string{"Sec-Fetch-Site": "same-origin"})
	var s struct {
		Contact *struct {
			Result        string `json:"result"`
			FromDataverse bool   `json:"sub_from_dataverse"`
		} `json:"contact"`
	}
	if err := json.Unmarshal([]byte(body(t, resp)), &s); err != nil || s.Contact == nil {
		t.Fatalf("session: %v, contact %v", err, s.Contact)
	}
	return s.Contact.Result, s.Contact.FromDataverse
}

// Signed in through the OP, the customer's chat token carries the GUID of
// their Dataverse contact as sub (the IdP subject in a context variable);
// the lookup happens once per session, not per token. A user with no
// contact keeps the IdP subject; one whose email is unverified is never
// matched.
func TestChatLinkedToContact(t *testing.T) {
	var contactID string
	e, dv := contactEnv(t, "", func(dv *testenv.Dataverse) {
		contactID = dv.Add("contact", map[string]string{"emailaddress1": "customer@example.com", "firstname": "Carl"}, false)
		dv.Add("contact", map[string]string{"emailaddress1": "plain@example.com"}, false)
	})

	c, _ := e.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
	for range 5 {
		claims, contexts := chatToken(t, e, c)
		if claims["sub"] != contactID {
			t.Fatalf("sub = %v, want the contact's GUID %s", claims["sub"], contactID)
		}
		if want := testenv.SubjectOf(t, e.OP, testenv.CustomerUsername); contexts["idp_subject"] != want {
			t.Errorf("lwicontexts idp_subject = %v, want the IdP subject %s", contexts["idp_subject"], want)
		}
	}
	if n := dv.Lookups(); n != 1 {
		t.Errorf("%d lookups for one session and five tokens, want 1", n)
	}
	if res, from := sessionContact(t, e, c); res != "linked" || !from {
		t.Errorf("session contact: %s, from Dataverse %v", res, from)
	}

	vip, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	if claims, _ := chatToken(t, e, vip); claims["sub"] != testenv.SubjectOf(t, e.OP, testenv.VIPUsername) {
		t.Errorf("no contact: sub = %v, want the IdP subject", claims["sub"])
	}
	if res, from := sessionContact(t, e, vip); res != "no_match" || from {
		t.Errorf("session contact: %s, from Dataverse %v", res, from)
	}

	plain, _ := e.login(t, testenv.PlainUsername, testenv.PlainPassword, "/")
	if claims, _ := chatToken(t, e, plain); claims["sub"] != testenv.SubjectOf(t, e.OP, testenv.PlainUsername) {
		t.Errorf("unverified email: sub = %v, want the IdP subject (plain@example.com has a contact, but is not verified)", claims["sub"])
	}
	if n := dv.Lookups(); n != 2 {
		t.Errorf("%d lookups after three sign-ins, want 2 (none for an unverified email)", n)
	}
	m := e.App.Metrics().ContactLookups
	for result, want := range map[string]float64{"linked": 1, "no_match": 1, "no_claim": 1} {
		if got := testutil.ToFloat64(m.WithLabelValues(result)); got != want {
			t.Errorf("lcw_contact_lookups_total{result=%q} = %v, want %v", result, got, want)
		}
	}
}

// Dataverse down at sign-in: the sign-in goes on with the IdP subject, and
// the next refresh links the session.
func TestContactLookupRetriedAtRefresh(t *testing.T) {
	t.Parallel()
	var contactID string
	e, dv := contactEnv(t, "  refresh_interval: 1s\n", func(dv *testenv.Dataverse) {
		contactID = dv.Add("contact", map[string]string{"emailaddress1": "customer@example.com"}, false)
		dv.SetDown(true)
	})
	c, resp := e.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in with Dataverse down: %d", resp.StatusCode)
	}
	if claims, _ := chatToken(t, e, c); claims["sub"] != testenv.SubjectOf(t, e.OP, testenv.CustomerUsername) {
		t.Fatalf("Dataverse down: sub = %v, want the IdP subject", claims["sub"])
	}
	if res, _ := sessionContact(t, e, c); res != "unavailable" {
		t.Errorf("session contact: %s", res)
	}
	dv.SetDown(false)
	time.Sleep(1100 * time.Millisecond) // the refresh is due
	if claims, _ := chatToken(t, e, c); claims["sub"] != contactID {
		t.Fatalf("after the refresh: sub = %v, want the contact's GUID", claims["sub"])
	}
	if n := dv.Lookups(); n != 1 {
		t.Errorf("%d lookups answered, want 1 (at the refresh)", n)
	}
}

// cookieHeader is the Cookie header c sends to e.
func cookieHeader(e *env, c *http.Client) string {
	u, _ := url.Parse(e.URL + "/")
	var parts []string
	for _, ck := range c.Jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// doctor --cookie-file says whether sub is a GUID and, with the lookup
// configured, whether it came from Dataverse (and if not, why).
func TestDoctorReportsContactLink(t *testing.T) {
	e, _ := contactEnv(t, "", func(dv *testenv.Dataverse) {
		dv.Add("contact", map[string]string{"emailaddress1": "customer@example.com"}, false)
	})
	linked, _ := e.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
	rep := runDoctor(t, doctor.Options{URL: e.URL + "/", Cookie: cookieHeader(e, linked)})
	wantFinding(t, rep, doctor.OK, "is the GUID of the signed-in user's Dataverse record, found by the contact lookup (linked)")

	unlinked, _ := e.login(t, testenv.VIPUsername, testenv.VIPPassword, "/")
	rep = runDoctor(t, doctor.Options{URL: e.URL + "/", Cookie: cookieHeader(e, unlinked)})
	wantFinding(t, rep, doctor.Warn, "sub is not from Dataverse: the contact lookup says no active record matches this user")

	plain := startEnv(t, envOptions{})
	rep = runDoctor(t, doctor.Options{URL: plain.URL + "/", Cookie: vipCookieHeader(t, plain)})
	wantFinding(t, rep, doctor.OK, "sub is a GUID, from token.subject_claim (no Dataverse lookup is configured)")
}

// An IdP cannot pick the Dataverse record: a claim named like the
// session's own link is dropped at sign-in, and the lookup decides.
func TestIdPCannotForgeContactLink(t *testing.T) {
	forged := "00000000-0000-4000-8000-000000000bad"
	e, _ := contactEnvWith(t, testenv.OPOptions{EditIDToken: func(c map[string]any) {
		c["_lcw_contact"] = map[string]any{"r": "linked", "id": forged}
	}}, "", nil)
	c, _ := e.login(t, testenv.CustomerUsername, testenv.CustomerPassword, "/")
	claims, _ := chatToken(t, e, c)
	if claims["sub"] != testenv.SubjectOf(t, e.OP, testenv.CustomerUsername) {
		t.Fatalf("sub = %v: the IdP's _lcw_contact claim was believed", claims["sub"])
	}
	if res, from := sessionContact(t, e, c); res != "no_match" || from {
		t.Errorf("session contact: %s, from Dataverse %v", res, from)
	}
}
