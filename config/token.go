package config

import "time"

// validate checks the token section. The lwicontexts rules and signing keys
// get their detailed checks in later steps.
func (t *Token) validate(p *problems) {
	if t.Lifetime.D() < time.Minute || t.Lifetime.D() > time.Hour {
		p.add("token.lifetime", "%s is out of range: use 1m to 60m (default 10m)", t.Lifetime.D())
	}
	if t.SubjectClaim == "" {
		p.add("token.subject_claim", "is required: the ID token claim that becomes sub (default sub)")
	}
}
