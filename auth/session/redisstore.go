package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/claims"
)

// RedisOptions configure a RedisStore.
type RedisOptions struct {
	// Cookie names and scopes the ticket cookie (Lifetime is the session
	// length when Save gets no Expiry).
	Cookie CookieOptions
	// Client talks to Redis (one node, Sentinel or Cluster). The store
	// does not close it.
	Client *RedisClient
	// KeyPrefix starts every key, e.g. "lcw:".
	KeyPrefix string
	// Timeout bounds each Redis operation of a request.
	Timeout time.Duration
	// CacheTTL is how long a replica may serve a record from its
	// client-side cache. Redis invalidates cached records the moment they
	// change or are deleted (RESP3 client tracking), so revocation stays
	// immediate; the TTL only bounds a cache that lost its invalidations.
	// 0 reads Redis on every request.
	CacheTTL time.Duration
	// Observe, when set, is told each operation's name, duration and
	// error (metrics).
	Observe func(op string, d time.Duration, err error)
	// Tracer, when set, makes a client span of each operation, a child of
	// the request's span. Nil (tracing off) costs one comparison.
	Tracer trace.TracerProvider
}

// RedisStore keeps sessions in Redis. The cookie carries a ticket: the
// sealed random id of the record (well under 200 bytes whatever the IdP
// sends). The record is the Session sealed by the same Codec under a name
// that includes its id, so a record copied to another id, or changed, no
// longer opens, and a Redis dump is useless without the session secret.
//
// Keys (with KeyPrefix p; the {…} are Redis Cluster hash tags, so a record
// and its refresh lock live in one slot):
//
//	p s:{id}      the sealed record, with the session's TTL
//	p lock:{id}   the refresh lock (SET NX PX, released by compare-and-delete)
//	p sub:{h}     ids of one subject's sessions (h: an HMAC of the subject)
//	p sid:{h}     ids of one IdP session's sessions (back-channel logout)
//	p email:{h}   ids of one email address's sessions (h: an HMAC of the
//	              lower-cased address; `sessions --email`)
//	p jti:{h}     back-channel logout tokens already used
//
// Beyond Store it offers what only a server-side store can: the record by
// id with a compare-and-set replace and a refresh lock (Get, Replace,
// Lock), ending and listing sessions (EndSID, EndSubject, EndEmail, List,
// ListEmail), the
// logout-token replay set (FirstUse, ForgetUse), readiness (Ping) and a
// token budget every replica shares (Budget). Each caller declares the
// small interface it uses.
type RedisStore struct {
	codec   *Codec
	opts    RedisOptions
	cookies *CookieStore // the ticket cookie's scanning and attributes
	tickets *cache       // ticket value → id (an ID-only Session)
	records *cache       // sealed record → decoded Session
	index   [][]byte     // HMAC keys for index names, current first
	unlock  *rueidis.Lua
	replace *rueidis.Lua
	now     func() time.Time
	tracer  trace.Tracer // nil: no spans

	// recent holds ids this replica deleted (ended) or rewrote, until the
	// client-side cache would have dropped them anyway: Redis's
	// invalidation of a cached record can arrive a moment after our own
	// DEL or script returns (on another connection, or behind the reply
	// on a loaded machine), and this replica must not serve the old record
	// in that moment. A rewritten id is read from Redis, past the cache.
	recentMu sync.RWMutex
	recent   map[string]recentWrite
}

type recentWrite struct {
	at    time.Time
	ended bool
}

var _ Store = (*RedisStore)(nil)

// ErrLocked means another replica is refreshing the session.
var ErrLocked = errors.New("session: the session is being refreshed elsewhere")

// ErrChanged means Replace found the record ended or rewritten since it
// was read, and left it alone.
var ErrChanged = errors.New("session: the record was ended or changed meanwhile")

// Info describes one stored session for `sessions list`.
type Info struct {
	ID          string    `json:"id"` // a short, non-secret prefix of the record id
	Subject     string    `json:"sub,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	Expiry      time.Time `json:"expires_at"`
	RefreshedAt time.Time `json:"refreshed_at,omitzero"`
	SID         string    `json:"sid,omitempty"`
	Email       string    `json:"email,omitempty"` // as the IdP sent it (verified), see Session.Email
	Name        string    `json:"name,omitempty"`
}

// NewRedisStore returns a RedisStore sealing with c. The index keys are
// derived from the codec's secrets, so index names say nothing about a
// subject to someone reading Redis.
func NewRedisStore(c *Codec, keys [][]byte, o RedisOptions) *RedisStore {
	s := &RedisStore{
		codec:   c,
		opts:    o,
		cookies: NewCookieStore(c, o.Cookie),
		tickets: newCache(1 << 20),
		records: newCache(defaultCacheBytes),
		unlock:  rueidis.NewLuaScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`),
		// Compare-and-set of a record: a revocation (DEL) or another write
		// since the read makes it a no-op (0). One key, so it runs on a
		// Cluster too.
		replace: rueidis.NewLuaScript(`if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
return 1`),
		now:    time.Now,
		recent: map[string]recentWrite{},
	}
	if o.Tracer != nil {
		s.tracer = o.Tracer.Tracer("github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session")
	}
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte("lcw-session-index-v1"))
		s.index = append(s.index, m.Sum(nil))
	}
	return s
}

// ticketPrefix marks a ticket's plaintext, so a cookie-store session sealed
// under the same cookie name is never read as an id.
const ticketPrefix = "t1:"

func (s *RedisStore) recordKey(id string) string { return s.opts.KeyPrefix + "s:{" + id + "}" }
func (s *RedisStore) lockKey(id string) string   { return s.opts.KeyPrefix + "lock:{" + id + "}" }

// recordName binds a sealed record to its id.
func recordName(id string) string { return "lcw-record:" + id }

// indexKeys are the index names of one value (a subject, a sid, a jti)
// under every configured secret, current first: after a rotation, sessions
// indexed under the old secret are still found.
func (s *RedisStore) indexKeys(kind, v string) []string {
	out := make([]string, len(s.index))
	for i, k := range s.index {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(kind))
		m.Write([]byte{0})
		m.Write([]byte(v))
		out[i] = s.opts.KeyPrefix + kind + ":{" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18]) + "}"
	}
	return out
}

// storeOp is one operation on Redis being timed (and traced).
type storeOp struct {
	name  string
	start time.Time
	span  trace.Span // nil when tracing is off
}

// redisSystem is the span attribute every operation carries. No key is
// recorded: keys hold session ids.
var redisSystem = semconv.DBSystemNameRedis

// begin starts op's clock and, when tracing is on, its span; ctx then
// carries the span. Returned by value, it allocates nothing when off.
func (s *RedisStore) begin(ctx context.Context, op string) (context.Context, storeOp) {
	o := storeOp{name: op, start: time.Now()}
	if s.tracer != nil {
		ctx, o.span = s.tracer.Start(ctx, "session."+op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(redisSystem))
	}
	return ctx, o
}

// end reports op to Observe and ends its span. err is the store's
// failure, not an answer such as "no such record", which the callers pass
// as nil.
func (s *RedisStore) end(o storeOp, err error) {
	if s.opts.Observe != nil {
		s.opts.Observe(o.name, time.Since(o.start), err)
	}
	if o.span != nil {
		if err != nil {
			o.span.RecordError(err)
			o.span.SetStatus(codes.Error, "session store unavailable")
		}
		o.span.End()
	}
}

func (s *RedisStore) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.opts.Timeout)
}

func (s *RedisStore) client() (rueidis.Client, error) {
	if s.opts.Client == nil {
		return nil, errNoClient
	}
	return s.opts.Client.Get()
}

// ticketID opens the ticket cookie of r.
func (s *RedisStore) ticketID(r *http.Request) (string, error) {
	j := s.cookies.scan(r)
	if j.first == "" {
		return "", ErrNoSession
	}
	if j.twice {
		return "", ErrDuplicate
	}
	now := s.now()
	if t, ok := s.tickets.get(j.first, now); ok {
		return t.ID, nil
	}
	plain, expiry, err := s.codec.open(s.opts.Cookie.Name, j.first)
	if err != nil {
		return "", err
	}
	if !now.Before(expiry) {
		return "", ErrExpired
	}
	id, ok := strings.CutPrefix(string(plain), ticketPrefix)
	if !ok || len(id) < 16 { // Save makes 24-character ids
		return "", ErrInvalid
	}
	s.tickets.put(j.first, &Session{ID: id, Expiry: expiry})
	return id, nil
}

// markEnded records ids this replica just deleted.
func (s *RedisStore) markEnded(ids ...string) { s.markRecent(true, ids...) }

// markRewritten records an id whose record this replica just replaced.
func (s *RedisStore) markRewritten(id string) { s.markRecent(false, id) }

func (s *RedisStore) markRecent(ended bool, ids ...string) {
	now := s.now()
	s.recentMu.Lock()
	defer s.recentMu.Unlock()
	for id, w := range s.recent {
		if now.Sub(w.at) > s.opts.CacheTTL {
			delete(s.recent, id)
		}
	}
	if s.opts.CacheTTL == 0 {
		return // nothing is cached, so nothing can be stale
	}
	for _, id := range ids {
		// An end stays an end: nothing rewrites an ended record.
		s.recent[id] = recentWrite{at: now, ended: ended || s.recent[id].ended}
	}
}

// recentWriteOf reports whether this replica ended or rewrote id within the
// cache's lifetime.
func (s *RedisStore) recentWriteOf(id string) (w recentWrite, ok bool) {
	s.recentMu.RLock()
	w, ok = s.recent[id]
	s.recentMu.RUnlock()
	return w, ok
}

// Load implements Store. A record that is gone (logout, revocation,
// back-channel logout, expiry) is ErrRevoked.
func (s *RedisStore) Load(r *http.Request) (*Session, error) {
	id, err := s.ticketID(r)
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	recent, written := s.recentWriteOf(id)
	if recent.ended {
		return nil, fmt.Errorf("load session: %w", ErrRevoked)
	}
	c, err := s.client()
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	ctx, cancel := s.ctx(r.Context())
	defer cancel()
	ctx, op := s.begin(ctx, "load")
	var res rueidis.RedisResult
	if s.opts.CacheTTL > 0 && s.opts.Client.Cached() && !written {
		res = c.DoCache(ctx, c.B().Get().Key(s.recordKey(id)).Cache(), s.opts.CacheTTL)
	} else {
		res = c.Do(ctx, c.B().Get().Key(s.recordKey(id)).Build())
	}
	if op.span != nil {
		// A cached read is the client-side cache, not a trip to Redis.
		op.span.SetAttributes(attribute.Bool("lcw.session.cache_hit", res.IsCacheHit()))
	}
	raw, err := res.ToString()
	if rueidis.IsRedisNil(err) {
		s.end(op, nil)
		return nil, fmt.Errorf("load session: %w", ErrRevoked)
	}
	s.end(op, err)
	if err != nil {
		return nil, fmt.Errorf("load session %s…: %w: %w", id[:6], ErrUnavailable, err)
	}
	sess, err := s.open(id, raw)
	if err != nil {
		return nil, fmt.Errorf("load session %s…: %w", id[:6], err)
	}
	return sess, nil
}

// open authenticates a sealed record for id and returns a copy of it.
func (s *RedisStore) open(id, raw string) (*Session, error) {
	now := s.now()
	// The cache is keyed by the sealed record alone; the id check keeps a
	// record copied to another id from hitting what it decoded to there.
	if sess, ok := s.records.get(raw, now); ok && sess.ID == id {
		cp := *sess
		cp.sealed = raw
		return &cp, nil
	}
	plain, expiry, err := s.codec.open(recordName(id), raw)
	if err != nil {
		return nil, err
	}
	if !now.Before(expiry) {
		return nil, ErrExpired
	}
	sess, err := decodeSession(plain)
	if err != nil || sess.Subject == "" || !sess.Expiry.Equal(expiry) {
		return nil, ErrInvalid
	}
	sess.ID = id
	s.records.put(raw, sess)
	cp := *sess
	cp.sealed = raw
	return &cp, nil
}

// Get reads a session by record id, bypassing any cache.
func (s *RedisStore) Get(ctx context.Context, id string) (*Session, error) {
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	ctx, op := s.begin(ctx, "get")
	raw, err := c.Do(ctx, c.B().Get().Key(s.recordKey(id)).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		s.end(op, nil)
		return nil, ErrRevoked
	}
	s.end(op, err)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return s.open(id, raw)
}

// Save implements Store. A session without an ID gets a new record and a
// new ticket cookie; one with an ID (a refresh) replaces its record in
// place, so every replica and every tab keeps the same ticket.
func (s *RedisStore) Save(w http.ResponseWriter, r *http.Request, sess *Session) error {
	if sess == nil || sess.Subject == "" {
		return errors.New("save session: a session needs a subject")
	}
	now := s.now()
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now
	}
	if sess.Expiry.IsZero() {
		sess.Expiry = now.Add(s.opts.Cookie.Lifetime)
	}
	sess.Expiry = sess.Expiry.Truncate(time.Second)
	ttl := sess.Expiry.Sub(now)
	if ttl <= 0 {
		return fmt.Errorf("save session: expiry %s is not in the future", sess.Expiry.Format(time.RFC3339))
	}
	fresh := sess.ID == ""
	if fresh {
		b := make([]byte, 18) // 144 bits
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("save session: random id: %w", err)
		}
		sess.ID = base64.RawURLEncoding.EncodeToString(b)
	}
	if err := s.writeRecord(r.Context(), sess, ttl); err != nil {
		if fresh {
			sess.ID = ""
		}
		return err
	}
	if !fresh {
		s.markRewritten(sess.ID)
		return nil
	}
	ticket, err := s.codec.Seal(s.opts.Cookie.Name, []byte(ticketPrefix+sess.ID), sess.Expiry)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	maxAge := int((ttl + time.Second - 1) / time.Second)
	s.cookies.setCookie(w, s.opts.Cookie.Name, ticket, maxAge)
	return nil
}

// Replace writes sess (a refresh of prev, same ID) over prev's record,
// without touching cookies, only if the record is still exactly prev as
// read by Get or Load: a session ended (or rewritten) meanwhile is not
// brought back. ErrChanged when it was not written for that reason.
//
// The indexes are added first and the record then compared-and-set: a record is never listed nowhere, and an index
// entry whose record is gone (or was never written) is harmless, dropped
// when the index is read. Indexes live in other slots than the record on
// a Cluster, so one script cannot cover them; this order makes that safe:
// a revocation that reads the index before our SADD still finds the id
// (the login indexed it), and one that deletes the record at any moment
// before our script makes the script a no-op.
func (s *RedisStore) Replace(ctx context.Context, sess, prev *Session) error {
	if sess == nil || sess.ID == "" || sess.Subject == "" || prev == nil || prev.ID != sess.ID {
		return errors.New("replace session: a session needs an id, a subject and the record it replaces")
	}
	if prev.sealed == "" {
		return errors.New("replace session: the replaced session was not read from this store")
	}
	ttl := sess.Expiry.Sub(s.now())
	if ttl <= 0 {
		return fmt.Errorf("replace session: expiry %s is not in the future", sess.Expiry.Format(time.RFC3339))
	}
	record, err := s.seal(sess)
	if err != nil {
		return err
	}
	c, err := s.client()
	if err != nil {
		return fmt.Errorf("replace session: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	ctx, op := s.begin(ctx, "save")
	err = s.doRetried(ctx, c, s.indexCommands(c, sess))
	var written int64
	if err == nil {
		exec := func() error {
			var e error
			written, e = s.replace.Exec(ctx, c, []string{s.recordKey(sess.ID)},
				[]string{prev.sealed, record, strconv.FormatInt(ttl.Milliseconds(), 10)}).AsInt64()
			return e
		}
		// Once more after a broken connection, as doRetried: a script that
		// ran but whose answer was lost finds its own record and answers
		// 0, which the caller resolves by reading the record.
		if err = exec(); err != nil && retryable(ctx, err) {
			err = exec()
		}
	}
	s.end(op, err)
	switch {
	case err != nil:
		return fmt.Errorf("replace session: %w: %w", ErrUnavailable, err)
	case written == 0:
		return fmt.Errorf("replace session %s…: %w", sess.ID[:6], ErrChanged)
	}
	s.markRewritten(sess.ID)
	return nil
}

// seal seals sess under its id.
func (s *RedisStore) seal(sess *Session) (string, error) {
	data, err := encodeSession(sess, true) // the record keeps the ID token and the operator's fields: the cookie is only a ticket
	if err != nil {
		return "", fmt.Errorf("save session: %w", err)
	}
	record, err := s.codec.Seal(recordName(sess.ID), data, sess.Expiry)
	if err != nil {
		return "", fmt.Errorf("save session: %w", err)
	}
	return record, nil
}

// indexCommands add sess to its subject's, IdP session's and email's
// indexes. The
// indexes live as long as the longest session they list; ids of ended
// sessions are dropped when the index is read.
func (s *RedisStore) indexCommands(c rueidis.Client, sess *Session) rueidis.Commands {
	indexTTL := s.opts.Cookie.Lifetime.Milliseconds()
	var cmds rueidis.Commands
	add := func(kind, v string) {
		k := s.indexKeys(kind, v)[0]
		cmds = append(cmds, c.B().Sadd().Key(k).Member(sess.ID).Build(), c.B().Pexpire().Key(k).Milliseconds(indexTTL).Build())
	}
	add("sub", sess.Subject)
	if sess.SID != "" {
		add("sid", sess.SID)
	}
	if e := claims.NormalEmail(sess.Email); e != "" {
		add("email", e)
	}
	return cmds
}

// writeRecord stores a new session's record with its indexes.
func (s *RedisStore) writeRecord(ctx context.Context, sess *Session, ttl time.Duration) error {
	record, err := s.seal(sess)
	if err != nil {
		return err
	}
	c, err := s.client()
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	cmds := append(s.indexCommands(c, sess), c.B().Set().Key(s.recordKey(sess.ID)).Value(record).PxMilliseconds(ttl.Milliseconds()).Build())
	ctx, op := s.begin(ctx, "save")
	err = s.doRetried(ctx, c, cmds)
	s.end(op, err)
	if err != nil {
		return fmt.Errorf("save session: %w: %w", ErrUnavailable, err)
	}
	return nil
}

// doRetried runs idempotent commands (SET, SADD, PEXPIRE), once more
// when the first attempt met a connection broken by a Redis restart: it
// fails the first write on it, and the client has reconnected by then.
func (s *RedisStore) doRetried(ctx context.Context, c rueidis.Client, cmds rueidis.Commands) error {
	err := firstErr(c.DoMulti(ctx, cmds...))
	if err != nil && retryable(ctx, err) {
		err = firstErr(c.DoMulti(ctx, cmds...))
	}
	return err
}

// retryable tells a broken connection from an answer of Redis's own.
func retryable(ctx context.Context, err error) bool {
	_, redisErr := rueidis.IsRedisErr(err)
	return !redisErr && ctx.Err() == nil
}

func firstErr(rs []rueidis.RedisResult) error {
	for _, r := range rs {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

// Clear implements Store: the record is deleted first, so a copied cookie
// is dead on every replica before this one's cookie is expired.
func (s *RedisStore) Clear(w http.ResponseWriter, r *http.Request) error {
	if id, err := s.ticketID(r); err == nil {
		c, err := s.client()
		if err != nil {
			return fmt.Errorf("end session: %w", err)
		}
		ctx, cancel := s.ctx(r.Context())
		defer cancel()
		ctx, op := s.begin(ctx, "delete")
		err = c.Do(ctx, c.B().Del().Key(s.recordKey(id)).Build()).Error()
		s.end(op, err)
		if err != nil {
			return fmt.Errorf("end session: %w: %w", ErrUnavailable, err)
		}
		s.markEnded(id)
	}
	s.cookies.clearCookies(w, r)
	return nil
}

// Twice implements Store.
func (s *RedisStore) Twice(r *http.Request) bool { return s.cookies.Twice(r) }

// Lock takes the refresh lock of a session for at most hold; ErrLocked
// when another replica holds it. release is safe to call once the work is
// done. SET NX PX with a random token: only the holder's release deletes
// the lock, and a crashed holder's lock expires.
func (s *RedisStore) Lock(ctx context.Context, id string, hold time.Duration) (func(), error) {
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	tok := base64.RawURLEncoding.EncodeToString(token)
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	cctx, op := s.begin(cctx, "lock")
	err = c.Do(cctx, c.B().Set().Key(s.lockKey(id)).Value(tok).Nx().PxMilliseconds(hold.Milliseconds()).Build()).Error()
	if rueidis.IsRedisNil(err) { // NX not met: someone else holds it
		s.end(op, nil)
		return nil, ErrLocked
	}
	s.end(op, err)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return func() {
		rctx, cancel := s.ctx(context.WithoutCancel(ctx))
		defer cancel()
		rctx, op := s.begin(rctx, "unlock")
		err := s.unlock.Exec(rctx, c, []string{s.lockKey(id)}, []string{tok}).Error()
		s.end(op, err)
	}, nil
}

// EndSubject ends every session of a subject, returning how many records
// were deleted.
func (s *RedisStore) EndSubject(ctx context.Context, sub string) (int, error) {
	return s.endIndexed(ctx, s.indexKeys("sub", sub), nil)
}

// EndSID ends every session of an IdP session (the ID token's sid),
// returning how many records were deleted.
func (s *RedisStore) EndSID(ctx context.Context, sid string) (int, error) {
	return s.endIndexed(ctx, s.indexKeys("sid", sid), nil)
}

// endIndexed deletes the records the indexes list and takes the ids it
// read out of each index (an id a sign-in adds meanwhile stays). With w,
// an index entry is only a hint: each record is read first and deleted
// only when it is w's (an email a refresh changed is left alone). Records
// are deleted one key per command: on a Cluster they live in other slots.
func (s *RedisStore) endIndexed(ctx context.Context, indexes []string, w *who) (int, error) {
	c, err := s.client()
	if err != nil {
		return 0, err
	}
	ctx, op := s.begin(ctx, "end")
	n := 0
	for _, idx := range indexes {
		sctx, cancel := s.ctx(ctx)
		ids, err := c.Do(sctx, c.B().Smembers().Key(idx).Build()).AsStrSlice()
		cancel()
		if err != nil {
			s.end(op, err)
			return n, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if len(ids) == 0 {
			continue
		}
		del := ids
		if w != nil {
			del = nil
			if err := s.readEach(ctx, c, ids, idx, func(id string, sess *Session) {
				if w.has(sess) {
					del = append(del, id)
				}
			}); err != nil {
				s.end(op, err)
				return n, err
			}
		}
		cmds := make(rueidis.Commands, 0, len(del)+1)
		for _, id := range del {
			cmds = append(cmds, c.B().Del().Key(s.recordKey(id)).Build())
		}
		cmds = append(cmds, c.B().Srem().Key(idx).Member(ids...).Build())
		s.markEnded(del...)
		dctx, cancel := s.ctx(ctx)
		res := c.DoMulti(dctx, cmds...)
		cancel()
		for i, r := range res {
			d, err := r.AsInt64()
			if err != nil {
				s.end(op, err)
				return n, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			if i < len(del) {
				n += int(d)
			}
		}
	}
	s.end(op, nil)
	return n, nil
}

// List describes sub's sessions (no tokens), or every session when sub is
// empty, read in batches (see list). Ids of sessions that ended are
// dropped from the index on the way.
func (s *RedisStore) List(ctx context.Context, sub string) ([]Info, error) {
	return s.list(ctx, who{sub: sub})
}

// ListEmail describes the sessions of everyone signed in with email,
// matched case-insensitively (claims.NormalEmail): one person may have
// several subjects (accounts) with one address, so each Info names its
// subject.
func (s *RedisStore) ListEmail(ctx context.Context, email string) ([]Info, error) {
	e := claims.NormalEmail(email)
	if e == "" {
		return nil, errors.New("list sessions: an empty email")
	}
	return s.list(ctx, who{email: e})
}

// EndEmail ends every session signed in with email (matched as
// ListEmail does), on every device, returning how many records were
// deleted.
func (s *RedisStore) EndEmail(ctx context.Context, email string) (int, error) {
	e := claims.NormalEmail(email)
	if e == "" {
		return 0, errors.New("end sessions: an empty email")
	}
	return s.endIndexed(ctx, s.indexKeys("email", e), &who{email: e})
}

// FirstUse records a back-channel logout token id for ttl and reports
// whether it was new (false: a replay).
func (s *RedisStore) FirstUse(ctx context.Context, jti string, ttl time.Duration) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	c, err := s.client()
	if err != nil {
		return false, err
	}
	ctx, op := s.begin(ctx, "first_use")
	err = c.Do(ctx, c.B().Set().Key(s.indexKeys("jti", jti)[0]).Value("1").Nx().PxMilliseconds(ttl.Milliseconds()).Build()).Error()
	if rueidis.IsRedisNil(err) { // NX not met: seen before
		s.end(op, nil)
		return false, nil
	}
	s.end(op, err)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return true, nil
}

// ForgetUse undoes FirstUse when the work the token asked for failed, so
// that the sender's retry of the same token is not taken for a replay.
func (s *RedisStore) ForgetUse(ctx context.Context, jti string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	c, err := s.client()
	if err != nil {
		return err
	}
	ctx, op := s.begin(ctx, "forget_use")
	err = c.Do(ctx, c.B().Del().Key(s.indexKeys("jti", jti)[0]).Build()).Error()
	s.end(op, err)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Ping checks that Redis answers (the redis dependency's health; never
// readiness, which a shared Redis must not decide).
func (s *RedisStore) Ping(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	c, err := s.client()
	if err != nil {
		return err
	}
	for _, res := range c.DoMulti(ctx, c.B().Ping().Build()) {
		if err := res.Error(); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return nil
}
