package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// KeySize is the length of every cookie key: AES-256.
const KeySize = 32

var (
	// ErrInvalid means a value is not one this proxy sealed for that cookie
	// with a configured key: tampered, truncated, moved, garbage, or sealed
	// with a key no longer listed. Callers treat it as "no session".
	ErrInvalid = errors.New("session: invalid value")
	// ErrExpired means an authentic value whose expiry has passed, e.g. an
	// old cookie replayed. errors.Is(ErrExpired, ErrInvalid) holds.
	ErrExpired = fmt.Errorf("%w: expired", ErrInvalid)
)

// Sealed layout, before base64: version | expiry | nonce | ciphertext+tag.
// The header (version and expiry, in clear so they can be read) is
// authenticated together with the cookie name as additional data.
const (
	formatV1    = 1
	nonceSize   = 12 // the GCM standard nonce
	headerSize  = 1 + 8
	prefixSize  = headerSize + nonceSize
	overhead    = prefixSize + 16 // + GCM tag
	adLabel     = "lcw-session-v1\x00"
	maxAADStack = 128
)

// strictB64 rejects non-canonical encodings (non-zero unused bits in the
// last character), so each sealed value has exactly one cookie string and a
// changed character is always a changed value.
var strictB64 = base64.RawURLEncoding.Strict()

// MaxValueLen is the longest sealed value Open considers (in base64
// characters). Anything longer is rejected before any decoding, so a hostile
// request cannot make the proxy allocate without bound.
const MaxValueLen = maxChunks * chunkSize

// Codec seals and opens cookie values with AES-256-GCM. It is safe for
// concurrent use.
type Codec struct {
	aeads []cipher.AEAD // [0] seals; all open
}

// NewCodec returns a Codec for keys, each exactly KeySize bytes. keys[0]
// seals new values; every key opens, so a secret can be rotated by listing
// the new one first and keeping the old one until its cookies have expired.
func NewCodec(keys [][]byte) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("session codec: at least one key is required")
	}
	c := &Codec{aeads: make([]cipher.AEAD, 0, len(keys))}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("session codec: key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("session codec: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("session codec: key %d: %w", i, err)
		}
		c.aeads = append(c.aeads, aead)
	}
	return c, nil
}

// Seal encrypts and authenticates plaintext for the cookie called name,
// valid until expiry, and returns it as unpadded URL-safe base64, which needs
// no quoting in a cookie. Nonces are random (96 bits), which is sound for
// far more cookies than one key should ever seal (NIST's 2^32 limit).
func (c *Codec) Seal(name string, plaintext []byte, expiry time.Time) (string, error) {
	raw := make([]byte, prefixSize, overhead+len(plaintext))
	raw[0] = formatV1
	binary.BigEndian.PutUint64(raw[1:headerSize], uint64(expiry.Unix()))
	if _, err := rand.Read(raw[headerSize:prefixSize]); err != nil {
		return "", fmt.Errorf("session seal: nonce: %w", err)
	}
	var stack [maxAADStack]byte
	ad := additionalData(stack[:0], raw[:headerSize], name)
	raw = c.aeads[0].Seal(raw, raw[headerSize:prefixSize], plaintext, ad)
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// Open authenticates and decrypts value as sealed by Seal for the cookie
// called name. It returns ErrInvalid unless some key authenticates it for
// that name, and ErrExpired when it is authentic but expired at now.
func (c *Codec) Open(name, value string, now time.Time) ([]byte, error) {
	plain, expiry, err := c.open(name, value)
	if err != nil {
		return nil, err
	}
	if !now.Before(expiry) {
		return nil, ErrExpired
	}
	return plain, nil
}

// open authenticates value and returns its plaintext and expiry.
func (c *Codec) open(name, value string) ([]byte, time.Time, error) {
	if len(value) > MaxValueLen || len(value) < base64.RawURLEncoding.EncodedLen(overhead) {
		return nil, time.Time{}, ErrInvalid
	}
	// One allocation holds the decoded value and, after it, the plaintext.
	// Decrypting in place is not possible: a key that fails to authenticate
	// clears its output, which would destroy the ciphertext for the next key.
	dlen := base64.RawURLEncoding.DecodedLen(len(value))
	buf := make([]byte, 2*dlen)
	n, err := strictB64.Decode(buf[:dlen], []byte(value))
	if err != nil || n < overhead || buf[0] != formatV1 {
		return nil, time.Time{}, ErrInvalid
	}
	raw, out := buf[:n], buf[dlen:dlen]
	var stack [maxAADStack]byte
	ad := additionalData(stack[:0], raw[:headerSize], name)
	nonce, sealed := raw[headerSize:prefixSize], raw[prefixSize:]
	for _, aead := range c.aeads {
		plain, err := aead.Open(out, nonce, sealed, ad)
		if err != nil {
			continue
		}
		return plain, time.Unix(int64(binary.BigEndian.Uint64(raw[1:headerSize])), 0), nil
	}
	return nil, time.Time{}, ErrInvalid
}

// additionalData binds the format header and the cookie name, so a value
// cannot be replayed under another cookie (another chunk, or a future cookie
// of this proxy) and its clear-text expiry cannot be changed.
func additionalData(dst, header []byte, name string) []byte {
	dst = append(dst, adLabel...)
	dst = append(dst, header...)
	return append(dst, name...)
}
