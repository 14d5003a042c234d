package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/doctor"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// doctorUsage is doctor's line for the help text.
func doctorUsage() string {
	return `lcw-auth-proxy doctor [--prefix ` + config.Default().Prefix + `] [--widget] [--cookie-file FILE | --cookie COOKIE] [--timeout 10s] [--strict] URL
  checks a deployed site from the outside, as Omnichannel and a browser see it; exit status 1 on errors (--strict: warnings too)`
}

// doctorCmd checks the site of a page URL (see internal/doctor) and prints
// one line per finding.
func doctorCmd(ctx context.Context, args []string, _ func(string) string, stdout, _ io.Writer) error {
	fs := newFlagSet("doctor")
	prefix := fs.String("prefix", config.Default().Prefix, "the proxy's path prefix")
	widget := fs.Bool("widget", false, "require the Omnichannel widget loader tag on the page")
	cookie := fs.String("cookie", "", "Cookie header of a signed-in session (name=value; …); --cookie-file keeps it out of the shell history")
	cookieFile := fs.String("cookie-file", "", "file holding that Cookie header, or a Netscape cookies.txt")
	timeout := fs.Duration("timeout", 10*time.Second, "limit for each request")
	strict := fs.Bool("strict", false, "exit non-zero on warnings too")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) != 1:
		return usageError{"doctor: give the URL of a page that should offer the chat, e.g. lcw-auth-proxy doctor https://shop.example.com/\n\n" + doctorUsage()}
	case *cookie != "" && *cookieFile != "":
		return usageError{"doctor: give --cookie or --cookie-file, not both"}
	}
	page, err := url.Parse(rest[0])
	if err != nil {
		return usageError{fmt.Sprintf("doctor: %q is not a URL", rest[0])}
	}
	if *cookieFile != "" {
		data, err := os.ReadFile(*cookieFile)
		if err != nil {
			return fmt.Errorf("doctor: read --cookie-file: %w", err)
		}
		if *cookie, err = doctor.CookieHeader(data, page, time.Now()); err != nil {
			return fmt.Errorf("doctor: --cookie-file %s: %w", *cookieFile, err)
		}
	}
	rep, err := doctor.Run(ctx, doctor.Options{URL: rest[0], Prefix: *prefix, Widget: *widget, Cookie: *cookie, Timeout: *timeout})
	if err != nil {
		return usageError{"doctor: " + err.Error()}
	}
	if err := rep.Write(stdout); err != nil {
		return err
	}
	if rep.Failed(*strict) {
		return fmt.Errorf("doctor: %d error(s), %d warning(s)", rep.Count(doctor.Error), rep.Count(doctor.Warn))
	}
	return nil
}
