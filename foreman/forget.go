package foreman

// Forget drops what this foreman keeps in memory of a finished job (its
// final state, kept for LiveLinger for its last viewers), so that a job
// retention deleted is a 404 here at once, not after LiveLinger. A job still
// running is not touched.
func (f *Foreman) Forget(id int64) {
	f.mu.Lock()
	delete(f.finished, id)
	f.mu.Unlock()
}
