package web

// SessionFor is a session cookie value of u, for tests that need a second
// credential besides the admin token.
func (a *Auth) SessionFor(u User) string {
	v, _ := a.newSession(u)
	return v
}
