// Package sessionsize measures what a session costs on every request with
// the cookie store: the Cookie header a browser sends for an Entra-sized
// sign-in and for a typical one, and the work and allocations of reading
// it. Its benchmarks report the sizes as metrics (go test -bench . ./bench/sessionsize).
package sessionsize
