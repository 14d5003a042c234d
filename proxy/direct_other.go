//go:build !unix

package proxy

// canPeek: without a non-blocking peek an idle connection cannot be checked
// before reuse, so every request goes through http.Transport.
const canPeek = false

func peekEmpty(uintptr) bool { return false }
