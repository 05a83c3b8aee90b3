package web

import "context"

// SessionFor is a session cookie value of u, for tests that need a second
// credential besides the admin token; a.Store keeps the session.
func (a *Auth) SessionFor(u User) string {
	v, _, err := a.NewSession(context.Background(), u, nil)
	if err != nil {
		panic(err)
	}
	return v
}
