package login

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
)

// Session loads the request's session (refreshing the tokens when due,
// which may set cookies on w). A missing, tampered or expired cookie is an
// anonymous visitor (nil), never an error; a bad cookie is cleared so the
// browser stops sending it.
func (rp *RP) Session(w http.ResponseWriter, r *http.Request) *session.Session {
	sess, err := rp.store.Load(r)
	switch {
	case errors.Is(err, session.ErrNoSession):
		return nil
	case err != nil:
		rp.log.DebugContext(r.Context(), "ignoring invalid session cookie", slog.String("error", err.Error()))
		rp.store.Clear(w, r)
		return nil
	}
	if !sess.RefreshAt.IsZero() && time.Now().After(sess.RefreshAt) && sess.RefreshToken != "" {
		return rp.refresher.refresh(w, r, sess)
	}
	return sess
}

// refresher refreshes each session once even when a page fires many
// requests at the same moment: concurrent callers share one exchange
// (singleflight), and requests that still carry the old cookie shortly after
// get the same result instead of spending a rotated refresh token again.
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
		return f.finish(w, r, res)
	}
	v, _, _ := f.group.Do(key, func() (any, error) {
		if res, ok := f.lookup(key); ok {
			return res, nil
		}
		res := f.exchange(r.Context(), old)
		f.mu.Lock()
		f.recent[key] = recentRefresh{sess: res, until: time.Now().Add(recentWindow)}
		f.mu.Unlock()
		return res, nil
	})
	return f.finish(w, r, v.(*session.Session))
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

func (f *refresher) finish(w http.ResponseWriter, r *http.Request, sess *session.Session) *session.Session {
	if sess == nil {
		f.rp.store.Clear(w, r)
		return nil
	}
	// Save normalises the session it is given; the shared result stays
	// untouched for the other requests waiting on it.
	own := *sess
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
	tok, err := p.oauth2.TokenSource(ctx, &oauth2.Token{RefreshToken: old.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.Response != nil && re.Response.StatusCode == http.StatusBadRequest && re.ErrorCode == "") {
			rp.metrics.Logins.WithLabelValues("refresh_invalid_grant").Inc()
			rp.log.InfoContext(ctx, "session ended by the provider on refresh", slog.String("sub", old.Subject))
			return nil
		}
		rp.metrics.Logins.WithLabelValues("refresh_failed").Inc()
		rp.log.WarnContext(ctx, "refresh failed; keeping the session and retrying later", slog.String("sub", old.Subject), slog.String("error", err.Error()))
		return postpone(old)
	}
	sess, err := rp.sessionFromToken(ctx, p, tok, "", old)
	if err != nil {
		rp.metrics.Logins.WithLabelValues("refresh_failed").Inc()
		rp.log.WarnContext(ctx, "refreshed tokens rejected; ending the session", slog.String("sub", old.Subject), slog.String("error", err.Error()))
		return nil
	}
	rp.metrics.Logins.WithLabelValues("refresh").Inc()
	return sess
}

func postpone(old *session.Session) *session.Session {
	cp := *old
	cp.RefreshAt = time.Now().Add(retryAfterFailure)
	return &cp
}
