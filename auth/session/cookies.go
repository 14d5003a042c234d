package session

import (
	"net/http"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/cookieheader"
)

// jar is what one request carries of the session's cookies. Values are
// substrings of the Cookie header: scanning allocates nothing.
type jar struct {
	first   string            // value of NAME ("<n>.<part>")
	parts   [maxChunks]string // parts[i] is the value of NAME_i, i >= 1
	present uint64            // bit k set: NAME_k present (1 <= k <= maxStale)
	// twice: NAME or one of the chunks came more than once. A browser sends
	// two cookies of one name when another site (a sibling subdomain, or
	// a longer Path) planted its own: whose session it is cannot be told.
	twice bool
}

// scan reads the session cookies from r's Cookie headers in one pass. A
// name that repeats sets twice (and the first value is kept). The work is
// linear in the header, whose size the HTTP server already bounds.
func (s *CookieStore) scan(r *http.Request) jar {
	var j jar
	name := s.opts.Name
	for _, line := range r.Header["Cookie"] {
		for p := range cookieheader.Pairs(line) {
			k, v := p.Name, p.Value
			if !p.HasValue || len(k) < len(name) || k[:len(name)] != name {
				continue
			}
			if len(k) == len(name) {
				if j.first == "" {
					j.first = v
				} else {
					j.twice = true
				}
				continue
			}
			idx, ok := chunkIndex(k[len(name):])
			if !ok {
				continue
			}
			if j.present&(1<<idx) != 0 {
				j.twice = true
			} else if idx < maxChunks {
				j.parts[idx] = v
			}
			j.present |= 1 << idx
		}
	}
	return j
}

// chunkIndex parses the "_<k>" suffix of a chunk cookie name, 1 <= k <=
// maxStale, without leading zeros.
func chunkIndex(suffix string) (int, bool) {
	if len(suffix) < 2 || len(suffix) > 3 || suffix[0] != '_' || suffix[1] == '0' {
		return 0, false
	}
	k := 0
	for i := 1; i < len(suffix); i++ {
		c := suffix[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		k = k*10 + int(c-'0')
	}
	return k, k <= maxStale
}

// assemble joins the parts named by NAME's count into the sealed value. A
// missing or empty part is ErrInvalid; reordered parts fail authentication
// later.
func (j *jar) assemble() (string, error) {
	first := j.first
	if len(first) < 2 || first[1] != '.' || first[0] < '1' || first[0] > '0'+maxChunks {
		return "", ErrInvalid
	}
	n := int(first[0] - '0')
	first = first[2:]
	if n == 1 {
		return first, nil
	}
	size := len(first)
	for i := 1; i < n; i++ {
		if j.parts[i] == "" {
			return "", ErrInvalid
		}
		size += len(j.parts[i])
	}
	if size > MaxValueLen {
		return "", ErrInvalid
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(first)
	for i := 1; i < n; i++ {
		b.WriteString(j.parts[i])
	}
	return b.String(), nil
}
