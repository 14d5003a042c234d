//go:build race

package main

// raceDetector is true in a -race build, whose sync.Pool drops items at
// random: each session Save then builds a fresh DEFLATE writer (about a
// megabyte the detector tracks), 50 times slower than in production.
const raceDetector = true
