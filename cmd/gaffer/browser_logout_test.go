package main

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// Every page's menu says who is signed in, with which role, and has a Log
// out button: clicking it lands on the login page, and the browser is
// signed out (its next visit asks it to log in). That the session is gone
// on the server too is web's TestSessions.
func TestBrowserLogout(t *testing.T) {
	ts := startServer(t)
	b := newBrowser(t)
	b.login(ts)
	b.do(chromedp.WaitVisible(chromedp.CSS("#nav-user")))
	if who := evalJS[string](b, `document.getElementById("nav-user").textContent`); who != "admin (admin)" {
		t.Errorf("the menu says %q is signed in, want admin (admin)", who)
	}
	for _, page := range []string{"/jobs/new", "/hosts", "/audit"} {
		b.do(chromedp.Navigate(ts.URL + page))
		if n := evalJS[int](b, `document.querySelectorAll("#logout button").length`); n != 1 {
			t.Errorf("%s has %d Log out buttons, want 1", page, n)
		}
	}
	b.do(chromedp.Click(chromedp.CSS("#logout button")))
	b.waitJS("the login page", `location.pathname === "/login" && document.querySelector("input[name=token]")`)
	b.do(chromedp.Navigate(ts.URL + "/"))
	b.waitJS("the login page again", `location.pathname === "/login"`)
}
