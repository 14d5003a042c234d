// Package token mints the Omnichannel chat token (an RS256 JWT whose
// lwicontexts claim carries the user's context values), serves it and the
// public keys over HTTP, and verifies tokens the way Omnichannel does.
//
// The token's claims come only from the verified identity the session holds
// (and, optionally, from a trusted server-to-server context_url call):
// nothing a browser sends can reach it.
package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/metrics"
)

// ErrNoSubject means the identity has no usable subject claim, so no token
// can be minted: Omnichannel requires sub and uses it to link the chat.
var ErrNoSubject = errors.New("no subject")

// Minter signs chat tokens. It is safe for concurrent use.
type Minter struct {
	cfg     config.Token
	keys    *keys.Set
	mapper  *claims.Mapper
	enrich  Enricher
	context *claims.Mapper // rules for the context_url answer
	log     *slog.Logger
	m       *metrics.Metrics
	now     func() time.Time
	tracer  trace.Tracer // nil: tracing off

	// Counters resolved once, so the token path does no label lookups.
	enrichOK, enrichErr prometheus.Counter
}

// MinterOptions is what a Minter needs.
type MinterOptions struct {
	// Token is the validated token section: issuer, lifetimes, rules.
	Token config.Token
	Keys  *keys.Set
	// Enricher calls token.context_url; nil when it is not configured.
	Enricher Enricher
	// Metrics and Logger may be nil (tests, CLI).
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// Tracer, when set, traces minting and the context_url call as
	// children of the request's span.
	Tracer trace.TracerProvider
}

// tracerName is this package's instrumentation scope.
const tracerName = "github.com/lcw-auth-proxy/lcw-auth-proxy/auth/token"

// NewMinter builds a Minter.
func NewMinter(o MinterOptions) *Minter {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger
	cfg := o.Token
	mt := &Minter{cfg: cfg, keys: o.Keys, mapper: claims.NewMapper(cfg.LWIContexts), enrich: o.Enricher, log: log, m: o.Metrics, now: time.Now}
	if o.Enricher != nil {
		// A context key's source is the answer's key of the same name unless
		// its rule names a path. Keys an lwicontexts rule sets are skipped:
		// that rule wins, so the answer's value could never be used.
		rules := make(map[string]config.ContextRule, len(cfg.ContextKeys))
		for k, r := range cfg.ContextKeys {
			if _, taken := cfg.LWIContexts[k]; taken {
				continue
			}
			if r.Claim == "" {
				r.Claim = k
			}
			rules[k] = r
		}
		mt.context = claims.NewMapper(rules)
	}
	if o.Tracer != nil {
		mt.tracer = o.Tracer.Tracer(tracerName)
	}
	if o.Metrics != nil {
		mt.enrichOK = o.Metrics.ContextEnrichment.WithLabelValues("ok")
		mt.enrichErr = o.Metrics.ContextEnrichment.WithLabelValues("error")
	}
	return mt
}

// Payload is what the next token for an identity would carry.
type Payload struct {
	Subject string
	// Contexts are the lwicontexts values; LWIContexts is their serialized
	// form, the string that goes into the token.
	Contexts    map[string]any
	LWIContexts string
	// Problems lists keys left out and why.
	Problems []claims.Problem
	// Contact is the session's link to its Dataverse record when
	// token.contact is configured (nil otherwise, or when the session has
	// none); Subject is its ID when it has one.
	Contact *claims.Contact
}

// Payload computes the subject and lwicontexts for verified claims, calling
// context_url when configured. Keys from lwicontexts rules win over keys of
// the same name from context_url: the operator's own mapping is the more
// deliberate one. A failed context_url call is logged and counted and only
// leaves its keys out.
func (m *Minter) Payload(ctx context.Context, idClaims map[string]any) (Payload, error) {
	raw, _ := claims.Lookup(idClaims, m.cfg.SubjectClaim)
	sub, _ := raw.(string)
	if sub == "" {
		return Payload{}, fmt.Errorf("%w: the identity's %q claim is missing or not a string; set token.subject_claim to a claim every user has (ideally the Dataverse contact GUID)", ErrNoSubject, m.cfg.SubjectClaim)
	}
	values, problems := m.mapper.Map(idClaims)
	var link *claims.Contact
	if ct := m.cfg.Contact; ct.Enabled() {
		if l, ok := claims.ContactOf(idClaims); ok {
			link = &l
			if claims.IsRecordID(l.ID) {
				// Omnichannel links the chat to the record whose GUID sub
				// is; the IdP's subject goes to a context variable.
				if ct.SubjectContext != "" {
					values[ct.SubjectContext] = sub
				}
				sub = l.ID
			}
		}
		if ct.SubjectContext != "" && values[ct.SubjectContext] == nil {
			values[ct.SubjectContext] = sub
		}
	}
	if m.enrich != nil {
		problems = m.addEnrichment(ctx, sub, idClaims, values, problems)
	}
	for _, p := range problems {
		level := slog.LevelWarn
		if p.Reason == claims.ReasonMissing {
			level = slog.LevelDebug // routine: not every user has every claim
		}
		m.log.LogAttrs(ctx, level, "lwicontexts key left out", slog.String("key", p.Key), slog.String("reason", p.Reason))
		if m.m != nil {
			m.m.ContextProblems.WithLabelValues(p.Key, p.Reason).Inc()
		}
	}
	s, err := claims.Serialize(values)
	if err != nil {
		return Payload{}, err
	}
	return Payload{Subject: sub, Contexts: values, LWIContexts: s, Problems: problems, Contact: link}, nil
}

func (m *Minter) addEnrichment(ctx context.Context, sub string, idClaims, values map[string]any, problems []claims.Problem) []claims.Problem {
	// Internal: the HTTP call beneath it is the client span (httpspan).
	ectx, span := m.startSpan(ctx, "token.context_url", trace.SpanKindInternal)
	answer, err := m.enrich.Enrich(ectx, sub, idClaims)
	endSpan(span, err, "context_url failed")
	if err != nil {
		m.log.WarnContext(ctx, "context_url failed; the token is minted without its keys", slog.String("error", err.Error()))
		inc(m.enrichErr)
		return problems
	}
	inc(m.enrichOK)
	extra, more := m.context.Map(answer)
	for k, v := range extra {
		if _, taken := values[k]; !taken {
			values[k] = v
		}
	}
	return append(problems, more...)
}

// chatClaims is the token payload. A struct (not a map) keeps the claim
// order fixed and marshals without reflection over map keys.
type chatClaims struct {
	Subject     string `json:"sub"`
	Issuer      string `json:"iss"`
	Audience    string `json:"aud,omitempty"`
	IssuedAt    int64  `json:"iat"`
	NotBefore   int64  `json:"nbf"`
	ExpiresAt   int64  `json:"exp"`
	LWIContexts string `json:"lwicontexts"`
}

func (c chatClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.ExpiresAt, 0)), nil
}
func (c chatClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.IssuedAt, 0)), nil
}
func (c chatClaims) GetNotBefore() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.NotBefore, 0)), nil
}
func (c chatClaims) GetIssuer() (string, error)  { return c.Issuer, nil }
func (c chatClaims) GetSubject() (string, error) { return c.Subject, nil }
func (c chatClaims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Audience}, nil
}

// Mint signs a fresh token for verified claims: RS256 with the current
// signing key, iat now, nbf = iat - not_before_skew, exp = iat + lifetime.
// It fails, without a token, when the subject claim is missing (ErrNoSubject).
func (m *Minter) Mint(ctx context.Context, idClaims map[string]any) (token string, expiresAt time.Time, err error) {
	ctx, span := m.startSpan(ctx, "token.mint", trace.SpanKindInternal)
	defer func() { endSpan(span, err, "no token minted") }()
	p, err := m.Payload(ctx, idClaims)
	if err != nil {
		return "", time.Time{}, err
	}
	return m.sign(p)
}

// startSpan starts a child span when tracing is on; span is nil when off,
// so minting without tracing allocates nothing for it. Spans carry no
// claim, subject or token: only their timing and whether they failed.
func (m *Minter) startSpan(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	if m.tracer == nil {
		return ctx, nil
	}
	return m.tracer.Start(ctx, name, trace.WithSpanKind(kind))
}

// endSpan ends span, marking it failed with a fixed description: the
// error's text stays in the log, as a context_url error can quote its
// answer.
func endSpan(span trace.Span, err error, failed string) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, failed)
	}
	span.End()
}

func (m *Minter) sign(p Payload) (string, time.Time, error) {
	now := m.now().Unix()
	skew := int64(m.cfg.NotBeforeSkew.D() / time.Second)
	c := chatClaims{
		Subject:     p.Subject,
		Issuer:      m.cfg.Issuer,
		Audience:    m.cfg.Audience,
		IssuedAt:    now,
		NotBefore:   now - max(skew, 0),
		ExpiresAt:   now + int64(m.cfg.Lifetime.D()/time.Second),
		LWIContexts: p.LWIContexts,
	}
	kid, key := m.keys.Signer()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = kid
	s, err := t.SignedString(key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign chat token with key %s: %w", kid, err)
	}
	return s, time.Unix(c.ExpiresAt, 0), nil
}

func inc(c prometheus.Counter) {
	if c != nil {
		c.Inc()
	}
}
