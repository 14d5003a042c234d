package login

import (
	"context"
	"sync"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
)

// fakeLinker links every user to one record and remembers what it got.
type fakeLinker struct {
	mu    sync.Mutex
	calls []*claims.Contact // prev of each call
	email []any
}

func (f *fakeLinker) Link(_ context.Context, c map[string]any, prev *claims.Contact) claims.Contact {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, prev)
	f.email = append(f.email, c["email"])
	return claims.Contact{ID: "3f1c9a52-7d6e-4b8f-9a01-5e2d4c6b8a73", Result: claims.ContactLinked}
}

// Turning token.contact on signs earlier sessions in again; the new
// sign-in calls the linker once with the verified claims, and the session
// keeps the link.
func TestContactConfigSignsInAgain(t *testing.T) {
	s := startSite(t, siteOptions{})
	s.login(t)
	page := func() string { return s.home(t) }
	if page() == "" {
		t.Fatal("not signed in")
	}
	with := *s.cfg
	with.Token.Contact.OrgURL = "https://contoso.crm.dynamics.com"
	linker := &fakeLinker{}
	s.rp.opt.Claims, s.rp.opt.Contact = claims.Needed(&with), linker
	if got := page(); got != "" {
		t.Fatalf("a session without a contact link was accepted (%q)", got)
	}
	sess := s.login(t)
	link, ok := claims.ContactOf(sess.Claims)
	if !ok || link.ID != "3f1c9a52-7d6e-4b8f-9a01-5e2d4c6b8a73" {
		t.Fatalf("session claims %v: no link", sess.Claims)
	}
	if len(linker.calls) != 1 || linker.calls[0] != nil || linker.email[0] == nil {
		t.Fatalf("linker calls %v with emails %v: want one at sign-in, with the verified email", linker.calls, linker.email)
	}
	if page() != sess.Subject {
		t.Fatal("the linked session is not accepted")
	}
	if len(linker.calls) != 1 {
		t.Errorf("%d linker calls: a request with the session must not look up again", len(linker.calls))
	}
}
