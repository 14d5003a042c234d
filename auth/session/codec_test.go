package session

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newCodec(t testing.TB, keys ...[]byte) *Codec {
	t.Helper()
	c, err := NewCodec(keys)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestNewCodecRejectsBadKeys(t *testing.T) {
	tests := []struct {
		name string
		keys [][]byte
	}{
		{"no keys", nil},
		{"empty key", [][]byte{{}}},
		{"AES-128 sized key", [][]byte{make([]byte, 16)}},
		{"one byte short", [][]byte{make([]byte, 31)}},
		{"one byte long", [][]byte{make([]byte, 33)}},
		{"second key bad", [][]byte{make([]byte, 32), make([]byte, 24)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := NewCodec(tc.keys); err == nil {
				t.Fatalf("NewCodec accepted %d keys, returned %v", len(tc.keys), c)
			}
		})
	}
}

func TestCodecRoundTrip(t *testing.T) {
	c := newCodec(t, newKey(t))
	for _, plain := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("claims"), 1000)} {
		v, err := c.Seal("_lcw", plain, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Trim(v, b64Alphabet) != "" {
			t.Fatalf("sealed value %q has characters outside unpadded URL-safe base64", v)
		}
		got, err := c.Open("_lcw", v, t0)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, want %q", got, plain)
		}
	}
}

func TestCodecSealUsesFreshNonces(t *testing.T) {
	c := newCodec(t, newKey(t))
	a, _ := c.Seal("_lcw", []byte("same"), t0)
	b, _ := c.Seal("_lcw", []byte("same"), t0)
	if a == b {
		t.Fatal("sealing the same plaintext twice gave the same value")
	}
}

func TestCodecKeyRotation(t *testing.T) {
	oldKey, newKey_, unknown := newKey(t), newKey(t), newKey(t)
	sealedOld, err := newCodec(t, oldKey).Seal("_lcw", []byte("old"), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rotated := newCodec(t, newKey_, oldKey)

	t.Run("old key listed second still opens", func(t *testing.T) {
		got, err := rotated.Open("_lcw", sealedOld, t0)
		if err != nil || string(got) != "old" {
			t.Fatalf("Open = %q, %v; want old, nil", got, err)
		}
	})
	t.Run("new values are sealed with the first key", func(t *testing.T) {
		v, _ := rotated.Seal("_lcw", []byte("new"), t0.Add(time.Hour))
		if _, err := newCodec(t, newKey_).Open("_lcw", v, t0); err != nil {
			t.Fatalf("first key alone cannot open: %v", err)
		}
		if _, err := newCodec(t, oldKey).Open("_lcw", v, t0); !errors.Is(err, ErrInvalid) {
			t.Fatalf("old key opened a value sealed after rotation: %v", err)
		}
	})
	t.Run("unknown key fails", func(t *testing.T) {
		if _, err := newCodec(t, unknown, newKey_).Open("_lcw", sealedOld, t0); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Open with unknown keys = %v, want ErrInvalid", err)
		}
	})
}

func TestCodecOpenRejects(t *testing.T) {
	c := newCodec(t, newKey(t))
	good, err := c.Seal("_lcw", []byte(`{"sub":"alice"}`), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	reencode := func(f func(b []byte) []byte) string {
		return base64.RawURLEncoding.EncodeToString(f(bytes.Clone(raw)))
	}
	tests := []struct {
		name, cookie, value string
		now                 time.Time
		want                error
	}{
		{"empty", "_lcw", "", t0, ErrInvalid},
		{"garbage base64", "_lcw", "!!!not base64!!!" + strings.Repeat("A", 60), t0, ErrInvalid},
		{"padded base64", "_lcw", good + "==", t0, ErrInvalid},
		{"standard base64 alphabet", "_lcw", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/", t0, ErrInvalid},
		{"truncated by one character", "_lcw", good[:len(good)-1], t0, ErrInvalid},
		{"truncated to half", "_lcw", good[:len(good)/2], t0, ErrInvalid},
		{"header only", "_lcw", good[:12], t0, ErrInvalid},
		{"extra character", "_lcw", good + "A", t0, ErrInvalid},
		{"absurdly large", "_lcw", strings.Repeat("A", 1<<20), t0, ErrInvalid},
		{"moved to another cookie name", "_lcw_1", good, t0, ErrInvalid},
		{"name differs only in case", "_LCW", good, t0, ErrInvalid},
		{"unknown version", "_lcw", reencode(func(b []byte) []byte { b[0] = 2; return b }), t0, ErrInvalid},
		{"expiry pushed later", "_lcw", reencode(func(b []byte) []byte { b[1]++; return b }), t0, ErrInvalid},
		{"nonce changed", "_lcw", reencode(func(b []byte) []byte { b[headerSize] ^= 1; return b }), t0, ErrInvalid},
		{"ciphertext bit flipped", "_lcw", reencode(func(b []byte) []byte { b[prefixSize] ^= 0x80; return b }), t0, ErrInvalid},
		{"tag bit flipped", "_lcw", reencode(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), t0, ErrInvalid},
		{"expired exactly at expiry", "_lcw", good, t0.Add(time.Hour), ErrExpired},
		{"replayed long after expiry", "_lcw", good, t0.Add(30 * 24 * time.Hour), ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Open(tc.cookie, tc.value, tc.now)
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("Open = %q, %v; want nil, %v", got, err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

// TestCodecEveryCharacterCounts changes each character of a sealed value in
// turn: none may still open, not even one that only touches the unused bits
// of the last base64 character.
func TestCodecEveryCharacterCounts(t *testing.T) {
	c := newCodec(t, newKey(t))
	for _, n := range []int{0, 1, 2} { // every length mod 3 of the sealed bytes
		good, _ := c.Seal("_lcw", bytes.Repeat([]byte("a"), n), t0.Add(time.Hour))
		for i := range good {
			for _, r := range []byte(b64Alphabet) {
				if good[i] == r {
					continue
				}
				v := good[:i] + string(r) + good[i+1:]
				if _, err := c.Open("_lcw", v, t0); !errors.Is(err, ErrInvalid) {
					t.Fatalf("len %d, character %d set to %q: Open = %v, want ErrInvalid", n, i, r, err)
				}
			}
		}
	}
}

// TestCodecEveryByteIsAuthenticated flips each byte of a sealed value in turn.
func TestCodecEveryByteIsAuthenticated(t *testing.T) {
	c := newCodec(t, newKey(t))
	good, _ := c.Seal("_lcw", []byte(`{"sub":"alice"}`), t0.Add(time.Hour))
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	for i := range raw {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		if _, err := c.Open("_lcw", base64.RawURLEncoding.EncodeToString(b), t0); !errors.Is(err, ErrInvalid) {
			t.Fatalf("flipping byte %d: Open = %v, want ErrInvalid", i, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	other := newCodec(f, newKey(f))
	for _, n := range []int{0, 10, 3000} {
		v, _ := other.Seal("_lcw", bytes.Repeat([]byte("a"), n), t0.Add(time.Hour))
		f.Add("_lcw", v, []byte("payload"), uint16(3), byte(1))
	}
	f.Add("", "", []byte{}, uint16(0), byte(0))
	f.Add("_lcw", "AQAAAAAAAAAA", []byte("x"), uint16(40), byte(0x80))
	c := newCodec(f, newKey(f))
	f.Fuzz(func(t *testing.T, name, value string, plain []byte, pos uint16, flip byte) {
		// Nothing the fuzzer writes can know c's fresh random key.
		if got, err := c.Open(name, value, t0); err == nil {
			t.Fatalf("Open(%q, %q) = %q without the key", name, value, got)
		}
		// A value c sealed opens only unmodified and under its own name.
		if len(plain) > 8<<10 {
			return // beyond what Open accepts at all
		}
		v, err := c.Seal(name, plain, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Open(name, v, t0)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("round trip = %q, %v", got, err)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(v)
		if flip != 0 {
			raw[int(pos)%len(raw)] ^= flip
			if _, err := c.Open(name, base64.RawURLEncoding.EncodeToString(raw), t0); err == nil {
				t.Fatalf("tampered value (byte %d ^ %#x) opened", int(pos)%len(raw), flip)
			}
		}
		if _, err := c.Open(name+"x", v, t0); err == nil {
			t.Fatal("value opened under another cookie name")
		}
	})
}
