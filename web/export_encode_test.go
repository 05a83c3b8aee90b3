package web

import "time"

// NoSharedEncoding makes every log viewer of s read and encode its own
// records, as before the shared encoded log: the reference to compare with.
func NoSharedEncoding(s *Server) { s.enc.off = true }

// SharedEncodingFrom makes a job's shared encoded log start with its n-th
// viewer (1: every viewer reads through it).
func SharedEncodingFrom(s *Server, n int) { s.enc.minViewers = n }

// GatherFor makes a viewer behind the log gather its reads for up to d
// (by default pendingWait) before it writes them, so that a test on a
// loaded machine sees the bound by bytes alone.
func GatherFor(s *Server, d time.Duration) { s.gatherWait = d }
