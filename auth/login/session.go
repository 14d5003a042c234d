package login

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
)

// Session loads the request's session (refreshing the tokens when due,
// which may set cookies on w). A missing, tampered, expired or ended
// session is an anonymous visitor (nil, nil); a bad cookie is cleared so the
// browser stops sending it. The only error is session.ErrUnavailable: a
// server-side store that cannot answer, so the visitor is neither signed in
// nor out (treating them as signed out would send them through the IdP
// and back again, in a loop).
func (rp *RP) Session(w http.ResponseWriter, r *http.Request) (*session.Session, error) {
	sess, err := rp.store.Load(r)
	switch {
	case errors.Is(err, session.ErrNoSession):
		return nil, nil
	case errors.Is(err, session.ErrUnavailable):
		rp.log.WarnContext(r.Context(), "session store unavailable", slog.String("error", err.Error()))
		return nil, err
	case err != nil:
		rp.log.DebugContext(r.Context(), "ignoring invalid session cookie", slog.String("error", err.Error()))
		_ = rp.store.Clear(w, r) // best effort: the record, if any, is already unusable
		return nil, nil
	}
	if sess.Legacy() {
		sess = rp.upgrade(w, r, sess)
	}
	if !rp.opt.Claims.Covers(sess.Needs) || rp.lacksContact(sess) {
		// The configuration now reads a claim this session did not keep:
		// signed in again, never answered with the claim missing.
		rp.metrics.Logins.WithLabelValues("claims_changed").Inc()
		rp.log.InfoContext(r.Context(), "session ended: the configuration reads claims it did not keep; the user signs in again", slog.String("sub", sess.Subject))
		if err := rp.store.Clear(w, r); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if !sess.RefreshAt.IsZero() && time.Now().After(sess.RefreshAt) && sess.RefreshToken != "" {
		return rp.refresher.refresh(w, r, sess), nil
	}
	return sess, nil
}

// lacksContact reports a session without a contact link while
// token.contact is on: one of an earlier version (which kept every claim,
// so Covers passes) made before the lookup was configured. Every sign-in
// with the lookup stores a link, even a failed one.
func (rp *RP) lacksContact(sess *session.Session) bool {
	if rp.opt.Contact == nil {
		return false
	}
	_, ok := claims.ContactOf(sess.Claims)
	return !ok
}

// upgrade rewrites a session read in an earlier version's format (every
// claim; with the cookie store, the ID token in the cookie every request
// sends) in today's: only the claims the configuration reads, named, and
// the ID token only where logout needs it. The browser gets the new
// cookie with this response; with a server-side store the record is
// replaced only if it is still the one read, so a revocation meanwhile
// stays. Whatever fails, this request goes on with the session as read.
func (rp *RP) upgrade(w http.ResponseWriter, r *http.Request, old *session.Session) *session.Session {
	cp := *old
	if cp.Email == "" && cp.Name == "" {
		// It kept every claim: the operator's fields come from them, by
		// today's email rule, so `sessions --email` finds it from now on.
		t := rp.trustedClaims(old)
		cp.Email, cp.Name = claims.Email(t), claims.DisplayName(t)
	}
	cp.Claims, cp.Needs = rp.opt.Claims.Keep(old.Claims), rp.opt.Claims.Names()
	if p, err := rp.disc.get(); err == nil && !rp.keepsIDToken(p) {
		cp.IDToken = ""
	}
	var err error
	if rp.records != nil && old.ID != "" {
		err = rp.records.Replace(r.Context(), &cp, old)
	} else {
		err = rp.store.Save(w, r, &cp)
	}
	if err != nil {
		rp.log.WarnContext(r.Context(), "session of an earlier version not rewritten; it is tried again on the next request", slog.String("error", err.Error()))
		return old
	}
	rp.metrics.Logins.WithLabelValues("session_upgraded").Inc()
	return &cp
}

// refresher refreshes each session once even when a page fires many
// requests at the same moment: concurrent callers share one exchange
// (singleflight), and requests that still carry the old cookie shortly after
// get the same result instead of spending a rotated refresh token again.
// With a server-side store, replicas agree through a lock in the store:
// one refreshes, the others wait for its record.
type refresher struct {
	rp     *RP
	group  singleflight.Group
	mu     sync.Mutex
	recent map[string]recentRefresh // by old refresh token
}

type recentRefresh struct {
	sess  *session.Session // nil: the session ended
	until time.Time
}

// records is what the refresher needs of a server-side store beyond
// Store: the record as stored, a compare-and-set write over it, and the
// refresh lock replicas agree through (session.RedisStore has them; the
// cookie store, with nothing on the server, does not).
type records interface {
	// Get reads a session by record id, bypassing any cache; an error
	// wrapping session.ErrInvalid when it ended.
	Get(ctx context.Context, id string) (*session.Session, error)
	// Replace writes sess over prev's record only if it is still exactly
	// prev; session.ErrChanged when it was ended or rewritten meanwhile.
	Replace(ctx context.Context, sess, prev *session.Session) error
	// Lock takes a session's refresh lock for at most hold;
	// session.ErrLocked when another replica holds it.
	Lock(ctx context.Context, id string, hold time.Duration) (release func(), err error)
}

// refreshed is one refresh's outcome.
type refreshed struct {
	sess   *session.Session // nil: the session ended
	stored bool             // already in the store (another replica saved it)
}

// lockHold bounds how long a replica may hold a session's refresh lock: a
// crashed holder's lock expires, and waiters give up, after it.
const lockHold = 20 * time.Second

// recentWindow is how long a refresh result is reused for stragglers.
const recentWindow = 30 * time.Second

// retryAfterFailure postpones the next refresh when the IdP is unreachable,
// so a down IdP is not hammered by every request.
const retryAfterFailure = 30 * time.Second

func newRefresher(rp *RP) *refresher {
	return &refresher{rp: rp, recent: map[string]recentRefresh{}}
}

// refresh returns the refreshed session (saving its cookie on w) or nil when
// the provider ended the session (invalid_grant). When the provider cannot be
// reached the old session is kept and retried later.
func (f *refresher) refresh(w http.ResponseWriter, r *http.Request, old *session.Session) *session.Session {
	key := old.RefreshToken
	if res, ok := f.lookup(key); ok {
		return f.finish(w, r, refreshed{sess: res, stored: true})
	}
	v, _, _ := f.group.Do(key, func() (any, error) {
		if res, ok := f.lookup(key); ok {
			return refreshed{sess: res, stored: true}, nil
		}
		res := f.exchangeOnce(r.Context(), old)
		f.mu.Lock()
		defer f.mu.Unlock()
		if prev, ok := f.recent[key]; ok && prev.sess == nil {
			// Ended here (logout) while the IdP answered: the cookie
			// store has no record to compare with, so this is how a
			// refresh in flight is kept from setting the cookie again.
			res = refreshed{}
		}
		f.recent[key] = recentRefresh{sess: res.sess, until: time.Now().Add(recentWindow)}
		return res, nil
	})
	return f.finish(w, r, v.(refreshed))
}

// ended records that sess was ended in this process (logout): a refresh
// of it in flight does not bring it back, and requests that still carry
// its cookie shortly after are signed out. With a server-side store the
// record's deletion already does this on every replica; with the cookie
// store it is the only way, and it works in this process only.
func (f *refresher) ended(sess *session.Session) {
	if sess.RefreshToken == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recent[sess.RefreshToken] = recentRefresh{until: time.Now().Add(recentWindow)}
}

// exchangeOnce refreshes old at the IdP, or, with a server-side store,
// takes the result of the replica that holds the session's refresh lock.
func (f *refresher) exchangeOnce(ctx context.Context, old *session.Session) refreshed {
	srv := f.rp.records
	if srv == nil || old.ID == "" {
		return refreshed{sess: f.exchange(ctx, old)}
	}
	ctx = context.WithoutCancel(ctx) // others wait on this result
	release, err := srv.Lock(ctx, old.ID, lockHold)
	switch {
	case errors.Is(err, session.ErrLocked):
		f.rp.metrics.Logins.WithLabelValues("refresh_waited").Inc()
		return f.await(ctx, srv, old)
	case err != nil:
		f.rp.log.WarnContext(ctx, "refresh postponed: the session store is unavailable", slog.String("error", err.Error()))
		return refreshed{sess: postpone(old), stored: true} // nothing to save it to
	}
	defer release()
	// Another replica may have refreshed between our read and our lock.
	cur, err := srv.Get(ctx, old.ID)
	switch {
	case errors.Is(err, session.ErrInvalid):
		return refreshed{} // ended meanwhile
	case err == nil && (cur.RefreshToken != old.RefreshToken || !cur.RefreshAt.Equal(old.RefreshAt)):
		return refreshed{sess: cur, stored: true}
	case err != nil:
		cur = old // the store did not answer; the replace below compares with what Load read
	}
	sess := f.exchange(ctx, cur)
	if sess == nil {
		return refreshed{}
	}
	// Saved before the lock is released: a replica that takes the lock
	// next must read the new refresh token, not spend the old one again.
	// Saved only over the record as read: a logout, `sessions revoke` or
	// back-channel logout during the exchange deleted it, and must stay.
	return f.save(ctx, srv, sess, cur)
}

// save writes a refreshed (or postponed) session over prev's record and
// says what the session now is.
func (f *refresher) save(ctx context.Context, srv records, sess, prev *session.Session) refreshed {
	err := srv.Replace(ctx, sess, prev)
	if err == nil {
		return refreshed{sess: sess, stored: true}
	}
	if !errors.Is(err, session.ErrChanged) {
		f.rp.log.ErrorContext(ctx, "save refreshed session", slog.String("error", err.Error()))
		return refreshed{sess: sess, stored: true}
	}
	cur, gerr := srv.Get(ctx, prev.ID)
	switch {
	case errors.Is(gerr, session.ErrInvalid):
		f.rp.metrics.Logins.WithLabelValues("refresh_discarded").Inc()
		f.rp.log.InfoContext(ctx, "session ended during its refresh; the refreshed tokens are discarded", slog.String("sub", prev.Subject))
		return refreshed{}
	case gerr != nil:
		return refreshed{sess: sess, stored: true}
	}
	return refreshed{sess: cur, stored: true} // rewritten meanwhile (our own write, its answer lost)
}

// await polls the store until the replica holding the lock has saved the
// refreshed record (or the session ended), for at most lockHold.
func (f *refresher) await(ctx context.Context, srv records, old *session.Session) refreshed {
	deadline := time.Now().Add(lockHold)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		cur, err := srv.Get(ctx, old.ID)
		switch {
		case errors.Is(err, session.ErrInvalid):
			return refreshed{}
		case err == nil && (cur.RefreshToken != old.RefreshToken || !cur.RefreshAt.Equal(old.RefreshAt)):
			return refreshed{sess: cur, stored: true}
		}
	}
	return refreshed{sess: postpone(old), stored: true}
}

func (f *refresher) lookup(key string) (*session.Session, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for k, v := range f.recent { // tiny map: only sessions refreshed in the last 30 s
		if now.After(v.until) {
			delete(f.recent, k)
		}
	}
	res, ok := f.recent[key]
	return res.sess, ok
}

func (f *refresher) finish(w http.ResponseWriter, r *http.Request, res refreshed) *session.Session {
	if res.sess == nil {
		if err := f.rp.store.Clear(w, r); err != nil {
			f.rp.log.ErrorContext(r.Context(), "end refused session", slog.String("error", err.Error()))
		}
		return nil
	}
	// Save normalises the session it is given; the shared result stays
	// untouched for the other requests waiting on it.
	own := *res.sess
	if res.stored && f.rp.records != nil {
		return &own // the record is the result; the ticket cookie stays
	}
	if err := f.rp.store.Save(w, r, &own); err != nil {
		f.rp.log.ErrorContext(r.Context(), "save refreshed session", slog.String("error", err.Error()))
	}
	return &own
}

func (f *refresher) exchange(ctx context.Context, old *session.Session) *session.Session {
	rp := f.rp
	p, err := rp.disc.get()
	if err != nil {
		return postpone(old)
	}
	// The refresh outlives a client that goes away mid-request: other
	// requests are waiting on the same result.
	ctx, cancel := context.WithTimeout(rp.clientContext(context.WithoutCancel(ctx)), 15*time.Second)
	defer cancel()
	rctx, end := rp.span(ctx, "oidc.refresh", trace.SpanKindInternal, p.oauth2.Endpoint.TokenURL)
	tok, err := p.oauth2.TokenSource(rctx, &oauth2.Token{RefreshToken: old.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
	end(err)
	if err != nil {
		if code, refused := refusedByProvider(err); refused {
			rp.metrics.Logins.WithLabelValues("refresh_invalid_grant").Inc()
			rp.log.InfoContext(ctx, "session ended by the provider on refresh", slog.String("sub", old.Subject), slog.String("error_code", code),
				slog.String("error", err.Error()))
			return nil
		}
		rp.metrics.Logins.WithLabelValues("refresh_failed").Inc()
		rp.log.WarnContext(ctx, "refresh failed; keeping the session and retrying later", slog.String("sub", old.Subject), slog.String("error", err.Error()))
		return postpone(old)
	}
	sess, _, err := rp.sessionFromToken(ctx, p, tok, "", old)
	if err != nil {
		rp.metrics.Logins.WithLabelValues("refresh_failed").Inc()
		rp.log.WarnContext(ctx, "refreshed tokens rejected; ending the session", slog.String("sub", old.Subject), slog.String("error", err.Error()))
		return nil
	}
	rp.metrics.Logins.WithLabelValues("refresh").Inc()
	return sess
}

// refusedByProvider tells a token endpoint's refusal of the grant or the
// client (the session must end) from a failure to get an answer (the
// session is kept and the refresh retried later). A refusal is an OAuth
// error code or a 4xx status: invalid_grant, invalid_client (a secret
// rotated at the IdP, or a method the client is not registered with),
// unauthorized_client, invalid_request, invalid_scope… Transient are
// network errors, timeouts, 5xx, 408 and 429, and the codes that say so
// (server_error, temporarily_unavailable). code is the OAuth error code,
// or the status when there is none.
func refusedByProvider(err error) (code string, refused bool) {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return "", false // no answer: network, timeout, or an unreadable one
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	code = re.ErrorCode
	if code == "" {
		code = strconv.Itoa(status)
	}
	switch {
	case re.ErrorCode == "server_error" || re.ErrorCode == "temporarily_unavailable":
		return code, false
	case status >= 500, status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return code, false
	}
	return code, re.ErrorCode != "" || status >= 400
}

func postpone(old *session.Session) *session.Session {
	cp := *old
	cp.RefreshAt = time.Now().Add(retryAfterFailure)
	return &cp
}
