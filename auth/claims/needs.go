package claims

import (
	"slices"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// Set names the identity claims a configuration reads from a session: the
// session keeps those and nothing else (data minimisation, and a cookie
// that fits every load balancer). Its zero value keeps every claim.
type Set struct {
	names []string // sorted, unique top-level claim names; nil with all
	all   bool
}

// Every keeps every claim. Needed returns it while token.context_url is
// set: the backend receives the identity's claims and may read any.
const Every = "*"

// Needed is the one answer to "which claims does this configuration need":
// every reader of a session's claims is listed here, so a new reader adds
// its claims here or its users' sessions lack them.
//
//   - token.subject_claim and every token.lwicontexts rule's claim (the
//     chat token, auth/token);
//   - token.context_url: every claim (auth/token's enricher posts them);
//   - access.allowed_email_domains (email, and email_verified / xms_edov,
//     which the rule checks again), access.required_groups
//     (access.groups_claim), access.required_claims' names (auth/access);
//   - headers.pass: email, preferred_username and, with headers.groups,
//     access.groups_claim (auth/access);
//   - iss: the token limit's key names the user by issuer and subject
//     (proxy/identity.go), so two tenants' equal subjects stay apart;
//   - token.contact: the link to the Dataverse record (ContactClaim, which
//     the sign-in sets and the chat token's sub reads), so a session made
//     before the lookup was configured signs in again and gets one; the
//     matched claim (with the email's verification) and the claims a new
//     contact is made from, which a refresh may look up again.
//
// The session's own fields carry the rest (subject, sid, expiry, refresh
// token, ID token for logout). A claim path keeps its top-level claim: the
// exact name and, as Lookup walks nested objects at every dot, each name
// before a dot ("address.country" keeps "address" whole; claims such as
// "https://example.com/roles" contain dots, so "https://example" is kept
// when an IdP sends it).
func Needed(cfg *config.Config) Set {
	if cfg.Token.ContextURL != "" {
		return Set{all: true}
	}
	var names []string
	add := func(path string) {
		if path == "" {
			return
		}
		names = append(names, path)
		for i := range len(path) {
			if path[i] == '.' && i > 0 {
				names = append(names, path[:i]) // Lookup walks into each
			}
		}
	}
	add("iss")
	if ct := cfg.Token.Contact; ct.Enabled() {
		add(ContactClaim)
		// A refresh looks again, from the session's claims when the IdP
		// sends no new ID token.
		add(ct.Match.Claim)
		if ct.Match.Claim == "email" {
			add("email_verified")
			add("xms_edov")
		}
		for _, c := range ct.Create {
			add(c)
		}
	}
	add(cfg.Token.SubjectClaim)
	for _, r := range cfg.Token.LWIContexts {
		add(r.Claim)
	}
	a := cfg.Access
	if len(a.AllowedEmailDomains) > 0 {
		add("email")
		add("email_verified")
		add("xms_edov")
	}
	if len(a.RequiredGroups) > 0 {
		add(a.GroupsClaim)
	}
	for name := range a.RequiredClaims {
		add(name)
	}
	if h := cfg.Headers; h.Pass {
		if h.Email != "" {
			add("email")
		}
		if h.PreferredUsername != "" {
			add("preferred_username")
		}
		if h.Groups != "" {
			add(a.GroupsClaim)
		}
	}
	slices.Sort(names)
	return Set{names: slices.Compact(names)}
}

// Names lists the set: sorted claim names, or [Every].
func (s Set) Names() []string {
	if s.all || s.names == nil {
		return []string{Every}
	}
	return slices.Clone(s.names)
}

// Keep returns the claims of c that the set names. c is not modified (it
// may be shared); with every claim kept the result is c itself.
func (s Set) Keep(c map[string]any) map[string]any {
	if s.all || s.names == nil {
		return c
	}
	out := make(map[string]any, len(s.names))
	for _, n := range s.names {
		if v, ok := c[n]; ok {
			out[n] = v
		}
	}
	return out
}

// Covers reports whether a session that kept the claims named by stored
// (its Names when it was made) holds every claim this set needs. nil
// stored is a session made before sessions named their claims: those kept
// every claim.
func (s Set) Covers(stored []string) bool {
	if stored == nil || slices.Contains(stored, Every) {
		return true
	}
	if s.all || s.names == nil {
		return false
	}
	for _, n := range s.names {
		if _, found := slices.BinarySearch(stored, n); !found {
			return false
		}
	}
	return true
}
