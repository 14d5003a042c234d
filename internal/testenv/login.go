package testenv

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"
)

// loginPath is where the example OP serves its login form; the form posts
// back to the same path.
const loginPath = "/login/username"

// NewBrowserClient returns an HTTP client that behaves like a browser for
// redirect-based flows: it keeps cookies in a jar and follows redirects.
// Cookies are kept per host, not per port (RFC 6265), so the OP and a proxy
// both on 127.0.0.1 share one cookie namespace. Its idle connections are
// closed when the test ends.
func NewBrowserClient(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatalf("testenv.NewBrowserClient: cookie jar: %v", err)
	}
	// An own transport, so one test's keep-alive connections (for example
	// to an OP it stopped) never serve another test.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}
}

// Do sends a bodiless request with the given headers through c and fails
// the test when it cannot be sent. The caller closes the body.
func Do(t testing.TB, c *http.Client, method, url string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// Login completes the OP's real login form with client, which must follow
// redirects and keep cookies (see NewBrowserClient). start is the URL that
// begins the flow, such as the proxy's /_lcw/login?rd=/x: Login follows its
// redirects to the OP's login page, posts the form, follows the redirects
// back, and returns the final response with its body already read into
// memory (closing it is optional). The client's jar then holds the cookies
// the flow set.
//
// With wrong credentials the OP shows its login page again, so the returned
// response is that page (200, URL path /login/username). Login fails the
// test only when the flow never reaches the login form or a request errors.
func Login(t testing.TB, client *http.Client, start string, username, password string) *http.Response {
	t.Helper()
	resp, err := client.Get(start)
	if err != nil {
		t.Fatalf("testenv.Login: GET %s: %v", start, err)
	}
	page := readAll(t, resp)
	formURL := resp.Request.URL
	id := formURL.Query().Get("authRequestID")
	if formURL.Path != loginPath || id == "" {
		t.Fatalf("testenv.Login: %s did not lead to the OP login form; ended at %s with status %d: %.500s",
			start, formURL, resp.StatusCode, page)
	}
	form := url.Values{
		"id":       {id},
		"username": {username},
		"password": {password},
	}
	action := formURL.ResolveReference(&url.URL{Path: loginPath})
	resp, err = client.PostForm(action.String(), form)
	if err != nil {
		t.Fatalf("testenv.Login: POST %s: %v", action, err)
	}
	readAll(t, resp)
	return resp
}

// readAll replaces resp.Body with an in-memory copy, so callers can read it
// freely and the connection goes back to the pool, and returns the bytes.
func readAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the bytes are read; a close error changes nothing
	if err != nil {
		t.Fatalf("testenv: read body of %s: %v", resp.Request.URL, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return body
}
