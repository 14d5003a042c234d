// Package doctor checks a deployed site from the outside, the way
// Omnichannel's servers and a visitor's browser see it: the public key
// documents, the page's bootstrap and widget tags, the page's
// Content-Security-Policy, the token endpoint's refusal of other sites, and,
// given a signed-in session's cookie, a real chat token verified as
// Omnichannel verifies it. Each finding says what to fix.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// Options say what to check.
type Options struct {
	// URL is a page of the site that should offer the chat.
	URL string
	// Prefix is the proxy's path prefix (default: the configuration's
	// default prefix, config.Default().Prefix).
	Prefix string
	// Widget requires the Omnichannel widget loader tag on the page (it is
	// checked whenever it is found anyway).
	Widget bool
	// Cookie is the Cookie header of a signed-in session; empty skips the
	// signed-in checks.
	Cookie string
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
	// Client makes the requests (default: a client that follows no
	// redirects on its own).
	Client *http.Client
	// Now is the clock tokens are checked against (default time.Now).
	Now func() time.Time
}

// Level is how bad a finding is.
type Level int

// Levels, in order.
const (
	// OK: the check passed.
	OK Level = iota
	// Skip: the check could not run (no cookie, a page behind sign-in).
	Skip
	// Warn: works, but is likely to cause trouble.
	Warn
	// Error: Omnichannel or the widget will fail.
	Error
)

func (l Level) String() string {
	return [...]string{"OK", "SKIP", "WARN", "ERROR"}[l]
}

// Finding is one result: what was found and, unless OK, what to do.
type Finding struct {
	Level Level
	// Area groups findings: keys, page, csp, token.
	Area string
	Text string
	Fix  string
}

// Report is every finding of a run, in the order checked.
type Report struct {
	Findings []Finding
}

// Count returns how many findings have level l.
func (r *Report) Count(l Level) int {
	n := 0
	for _, f := range r.Findings {
		if f.Level == l {
			n++
		}
	}
	return n
}

// Failed reports whether the run found errors, or, when strict, warnings.
func (r *Report) Failed(strict bool) bool {
	return r.Count(Error) > 0 || (strict && r.Count(Warn) > 0)
}

// Write prints one line per finding, the fix after the finding, and a
// summary line. Findings quote the checked site (attributes, key ids,
// headers, answers), which is not to be trusted: every line passes through
// printable here, the one place findings reach a terminal, so no finding
// can forget it.
func (r *Report) Write(w io.Writer) error {
	for _, f := range r.Findings {
		line := fmt.Sprintf("%-5s %-5s %s", f.Level, f.Area, f.Text)
		if f.Fix != "" && f.Level != OK {
			line += " — fix: " + f.Fix
		}
		if _, err := fmt.Fprintln(w, printable(line)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d error(s), %d warning(s)\n", r.Count(Error), r.Count(Warn))
	return err
}

// check is one run's state: the options, the site's origin, what earlier
// checks learned, and the findings.
type check struct {
	opt    Options
	page   *url.URL
	origin string // scheme://host[:port] of the page
	report *Report

	keys published
}

func (c *check) add(l Level, area, text, fix string) {
	c.report.Findings = append(c.report.Findings, Finding{Level: l, Area: area, Text: text, Fix: fix})
}

func (c *check) ok(area, format string, args ...any) {
	c.add(OK, area, fmt.Sprintf(format, args...), "")
}

// Run checks the site of o.URL. Problems with the site are findings; the
// error is for options that make no sense.
func Run(ctx context.Context, o Options) (*Report, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL of a page: give the page that should offer the chat, e.g. https://shop.example.com/", o.URL)
	}
	if o.Prefix == "" {
		o.Prefix = config.Default().Prefix
	}
	if !strings.HasPrefix(o.Prefix, "/") || strings.HasSuffix(o.Prefix, "/") {
		return nil, fmt.Errorf("prefix %q must start with / and not end with one, e.g. %s", o.Prefix, config.Default().Prefix)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &check{opt: o, page: u, origin: u.Scheme + "://" + u.Host, report: &Report{}}
	c.checkKeys(ctx)
	c.checkPage(ctx)
	c.checkCrossSite(ctx)
	c.checkToken(ctx)
	return c.report, nil
}

// maxBody bounds what is read of any answer.
const maxBody = 4 << 20

// get sends one bodiless request and reads the answer (up to maxBody).
func (c *check) get(ctx context.Context, method, target string, hdr map[string]string) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("User-Agent", "lcw-auth-proxy-doctor")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.opt.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return resp, body, err
}

// endpoint is the URL of one of the proxy's own endpoints.
func (c *check) endpoint(name string) string {
	return c.origin + c.opt.Prefix + "/" + name
}
