//go:build race

package main

// raceEnabled: the race detector allows 8128 live goroutines, fewer than
// the 10 000-viewer test needs.
const raceEnabled = true
