package session

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// What a sealed session (a session cookie, or a Redis record) holds before
// sealing, told apart by its first byte:
//
//	'{' …            format 1 (before issue 22): the Session as JSON, every
//	                 claim and, in a cookie, the ID token. Still read, and
//	                 rewritten in format 2 by the session's next response
//	                 (Session.Legacy).
//	plainRaw …       format 2: the Session as JSON
//	plainDeflate …   format 2, DEFLATE-compressed (RFC 1951): written when
//	                 smaller, which a session with dozens of group ids is
const (
	plainRaw     byte = 0x02
	plainDeflate byte = 0x03
)

// maxPlain bounds what an authentic compressed value may inflate to.
const maxPlain = 1 << 20

// encodeSession is sess in format 2. record false (a cookie) leaves out
// the ID token (the cookie store keeps it in the logout cookie) and the
// operator's fields Email and Name, which only a server-side record keeps
// (for `sessions list`): the cookie carries no more than the configuration
// reads.
func encodeSession(sess *Session, record bool) ([]byte, error) {
	v := sess
	if !record && (sess.IDToken != "" || sess.Email != "" || sess.Name != "") {
		cp := *sess
		cp.IDToken, cp.Email, cp.Name = "", "", ""
		v = &cp
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	return pack(data), nil
}

// decodeSession reads a session of either format; a format-1 session is
// marked Legacy.
func decodeSession(plain []byte) (*Session, error) {
	sess := new(Session)
	if len(plain) > 0 && plain[0] == '{' {
		if err := json.Unmarshal(plain, sess); err != nil {
			return nil, err
		}
		sess.legacy = true
		return sess, nil
	}
	data, err := unpack(plain)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, sess); err != nil {
		return nil, err
	}
	return sess, nil
}

// pack prefixes data with its format byte, compressed when that is
// shorter.
func pack(data []byte) []byte {
	if z := deflate(data); z != nil && len(z) < len(data) {
		return z
	}
	out := make([]byte, 1+len(data))
	out[0] = plainRaw
	copy(out[1:], data)
	return out
}

// unpack undoes pack.
func unpack(plain []byte) ([]byte, error) {
	if len(plain) == 0 {
		return nil, errors.New("empty session value")
	}
	switch plain[0] {
	case plainRaw:
		return plain[1:], nil
	case plainDeflate:
		return inflate(plain[1:])
	}
	return nil, fmt.Errorf("unknown session format %#x", plain[0])
}

// Compressors are pooled: a flate.Writer holds several hundred KB of
// state, which a sign-in should not allocate each time.
var (
	writers = sync.Pool{New: func() any {
		w, _ := flate.NewWriter(io.Discard, flate.BestCompression) // a valid level never fails
		return w
	}}
	readers = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}
)

// deflate returns plainDeflate followed by data compressed, or nil.
func deflate(data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(data)/2 + 16)
	b.WriteByte(plainDeflate)
	w := writers.Get().(*flate.Writer)
	defer writers.Put(w)
	w.Reset(&b)
	if _, err := w.Write(data); err != nil {
		return nil
	}
	if err := w.Close(); err != nil {
		return nil
	}
	return b.Bytes()
}

func inflate(z []byte) ([]byte, error) {
	r := readers.Get().(io.ReadCloser)
	defer readers.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(z), nil); err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, maxPlain+1))
	if err != nil {
		return nil, fmt.Errorf("inflate session: %w", err)
	}
	if len(out) > maxPlain {
		return nil, errors.New("session value too large")
	}
	return out, nil
}
