package session

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/rueidis"
)

// listBatch is how many keys one SCAN/SSCAN step asks for and how many
// records one pipelined round of GETs reads; each batch has its own
// timeout (RedisOptions.Timeout), so a listing of any size finishes as
// long as every batch does, and the server is never asked for one huge
// answer.
const listBatch = 500

// list describes the sessions of sub (all sessions when sub is empty),
// batch by batch: the subject's index with SSCAN, or every record key
// with SCAN on every node (Redis Cluster keeps keys on several masters;
// replicas repeat them, so ids are counted once). Records are read with
// one pipeline of GETs per batch, not MGET: in Cluster the record keys
// ({id} hash tags) lie in different slots.
func (s *RedisStore) list(ctx context.Context, sub string) ([]Info, error) {
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	var out []Info
	seen := make(map[string]bool)
	read := func(ids []string, index string) error {
		infos, err := s.readInfos(ctx, c, ids, sub, index)
		out = append(out, infos...)
		return err
	}
	if sub != "" {
		for _, idx := range s.indexKeys("sub", sub) {
			if err := s.scanEach(ctx, c, func(cursor uint64) rueidis.Completed {
				return c.B().Sscan().Key(idx).Cursor(cursor).Count(listBatch).Build()
			}, func(ids []string) error { return read(unseen(seen, ids), idx) }); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	prefix := s.opts.KeyPrefix + "s:{"
	for _, node := range nodesOf(c) {
		if err := s.scanEach(ctx, node, func(cursor uint64) rueidis.Completed {
			return node.B().Scan().Cursor(cursor).Match(prefix + "*").Count(listBatch).Build()
		}, func(keys []string) error {
			ids := make([]string, 0, len(keys))
			for _, k := range keys {
				if id, ok := strings.CutPrefix(k, prefix); ok && strings.HasSuffix(id, "}") {
					ids = append(ids, strings.TrimSuffix(id, "}"))
				}
			}
			return read(unseen(seen, ids), "")
		}); err != nil {
			return out, err
		}
	}
	return out, nil
}

// nodesOf is every node of a Cluster client, or c itself.
func nodesOf(c rueidis.Client) []rueidis.Client {
	if c.Mode() != rueidis.ClientModeCluster {
		return []rueidis.Client{c}
	}
	var out []rueidis.Client
	for _, n := range c.Nodes() {
		out = append(out, n)
	}
	return out
}

// unseen keeps the ids not met before (and marks them met).
func unseen(seen map[string]bool, ids []string) []string {
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// scanEach runs a SCAN-like command from cursor 0 until the server says
// it is done, handing each page to page; each step has its own timeout.
func (s *RedisStore) scanEach(ctx context.Context, c rueidis.Client, cmd func(cursor uint64) rueidis.Completed, page func([]string) error) error {
	var cursor uint64
	for {
		bctx, cancel := s.ctx(ctx)
		e, err := c.Do(bctx, cmd(cursor)).AsScanEntry()
		cancel()
		if err != nil {
			return fmt.Errorf("%w: scan: %w", ErrUnavailable, err)
		}
		if len(e.Elements) > 0 {
			if err := page(e.Elements); err != nil {
				return err
			}
		}
		if e.Cursor == 0 {
			return nil
		}
		cursor = e.Cursor
	}
}

// readInfos reads the records of ids, at most listBatch per round trip
// (each round with its own timeout), and describes those that open (and,
// when sub is set, are sub's). Ids whose record is gone are dropped from
// index on the way.
func (s *RedisStore) readInfos(ctx context.Context, c rueidis.Client, ids []string, sub, index string) ([]Info, error) {
	var out []Info
	for len(ids) > 0 {
		batch := ids[:min(listBatch, len(ids))]
		ids = ids[len(batch):]
		cmds := make(rueidis.Commands, len(batch))
		for i, id := range batch {
			cmds[i] = c.B().Get().Key(s.recordKey(id)).Build()
		}
		bctx, cancel := s.ctx(ctx)
		res := c.DoMulti(bctx, cmds...)
		var gone []string
		for i, r := range res {
			raw, err := r.ToString()
			if rueidis.IsRedisNil(err) {
				gone = append(gone, batch[i])
				continue
			}
			if err != nil {
				cancel()
				return out, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			sess, err := s.open(batch[i], raw)
			if err != nil || (sub != "" && sess.Subject != sub) {
				continue // sealed with a retired secret, or not this subject's
			}
			in := Info{ID: batch[i][:8], CreatedAt: sess.CreatedAt, Expiry: sess.Expiry, RefreshedAt: sess.RefreshedAt, SID: sess.SID}
			if sub == "" {
				in.Subject = sess.Subject // a listing of everyone says whose
			}
			out = append(out, in)
		}
		if index != "" && len(gone) > 0 {
			_ = c.Do(bctx, c.B().Srem().Key(index).Member(gone...).Build()).Error() // tidying only: the next listing tries again
		}
		cancel()
	}
	return out, nil
}
