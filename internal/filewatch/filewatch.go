// Package filewatch keeps a value loaded from files and loads it again when
// the files' content changes. It compares content, not modification times:
// a Kubernetes Secret update swaps the ..data symlink and leaves the file's
// own link untouched, and coarse file system clocks can hide a quick rewrite.
package filewatch

import (
	"crypto/sha256"
	"encoding/binary"
	"os"
	"sync"
)

type digest [sha256.Size]byte

// Value is T parsed from the content of a set of files. It is safe for
// concurrent use. Nothing watches the files in the background: the caller
// decides when to look, by polling Check or calling it on demand.
type Value[T any] struct {
	paths []string
	parse func(contents [][]byte) (T, error)

	mu     sync.Mutex
	cur    T
	sum    digest // of the content cur was parsed from
	bad    digest // of the last content that failed to parse
	badErr error  // why it failed; nil when nothing failed since cur
}

// Load reads paths and parses their contents (in the order of paths) into
// the first value. A file that cannot be read gives the *fs.PathError from
// reading it; content that does not parse gives parse's error.
func Load[T any](parse func(contents [][]byte) (T, error), paths ...string) (*Value[T], error) {
	v := &Value[T]{paths: paths, parse: parse}
	contents, sum, err := v.read()
	if err != nil {
		return nil, err
	}
	if v.cur, err = parse(contents); err != nil {
		return nil, err
	}
	v.sum = sum
	return v, nil
}

// Get returns the value last loaded.
func (v *Value[T]) Get() T {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cur
}

// Check reads the files again. changed reports content it had not seen:
// neither the current value's nor the content that last failed to parse.
// New content that parses replaces the value. Otherwise the previous value
// stays and err says why: the *fs.PathError of an unreadable file, or the
// parse error, which Check returns again, without parsing again, for as
// long as the files hold that same content.
func (v *Value[T]) Check() (changed bool, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	contents, sum, err := v.read()
	switch {
	case err != nil:
		return false, err
	case sum == v.sum:
		return false, nil
	case v.badErr != nil && sum == v.bad:
		return false, v.badErr
	}
	val, err := v.parse(contents)
	if err != nil {
		v.bad, v.badErr = sum, err
		return true, err
	}
	v.cur, v.sum, v.badErr = val, sum, nil
	return true, nil
}

func (v *Value[T]) read() ([][]byte, digest, error) {
	h := sha256.New()
	contents := make([][]byte, len(v.paths))
	for i, p := range v.paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, digest{}, err
		}
		// The length keeps the files apart: "ab"+"c" must not hash as "a"+"bc".
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(data))))
		h.Write(data)
		contents[i] = data
	}
	var sum digest
	h.Sum(sum[:0])
	return contents, sum, nil
}
