package session

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"
)

// gcra is a token bucket as the generic cell rate algorithm keeps it: one
// number per key, the theoretical arrival time (ms) of the next event.
// KEYS[1] the key; ARGV[1] ms between events at the sustained rate;
// ARGV[2] the burst; ARGV[3] "1" to peek (take nothing). It answers
// {allowed (1/0), ms until an event would be allowed}. The clock is the
// server's (TIME), so replicas with skewed clocks share one budget fairly;
// scripts replicate their effects, so TIME is allowed. One key per call:
// it runs on Redis Cluster too.
var gcra = rueidis.NewLuaScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call("GET", KEYS[1]) or now)
if tat < now then tat = now end
local nextTat = tat + interval
local allowAt = nextTat - interval * burst
if now < allowAt then return {0, allowAt - now} end
if ARGV[3] ~= "1" then redis.call("SET", KEYS[1], nextTat, "PX", nextTat - now) end
return {1, 0}
`)

// RedisBudget is a token bucket per key kept in Redis, so that every
// replica spends from the same budget. Keys are stored under keyed hashes
// (as the indexes are): a subject is never readable in Redis.
type RedisBudget struct {
	s        *RedisStore
	interval time.Duration
	burst    int
}

// Budget returns a RedisBudget of perMinute events a minute, bursts of
// burst, on s's Redis.
func (s *RedisStore) Budget(perMinute, burst int) *RedisBudget {
	return &RedisBudget{s: s, interval: time.Minute / time.Duration(perMinute), burst: burst}
}

// Take takes one event from key's bucket (peek: takes nothing, only tells).
// When the bucket is empty it reports how long until it holds one again.
// An error means Redis did not answer; the caller decides what then.
func (b *RedisBudget) Take(ctx context.Context, key string, peek bool) (ok bool, retryAfter time.Duration, err error) {
	ctx, cancel := b.s.ctx(ctx)
	defer cancel()
	c, err := b.s.client()
	if err != nil {
		return false, 0, err
	}
	ctx, op := b.s.begin(ctx, "budget")
	flag := "0"
	if peek {
		flag = "1"
	}
	res, err := gcra.Exec(ctx, c, []string{b.s.indexKeys("rate", key)[0]},
		[]string{fmt.Sprint(b.interval.Milliseconds()), fmt.Sprint(b.burst), flag}).AsIntSlice()
	b.s.end(op, err)
	if err != nil {
		return false, 0, fmt.Errorf("%w: token budget: %w", ErrUnavailable, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("%w: token budget: answer %v", ErrUnavailable, res)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Millisecond, nil
}
