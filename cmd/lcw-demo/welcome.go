package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
)

// welcome is what the demo tells the person who started it.
type welcome struct {
	URL, Issuer, Upstream, PublicKeyURL, StateDir, Config string
	Users                                                 []devidp.User
	BuiltInSite, Simulated, KeptState                     bool
	Widget                                                config.Widget
	// Notes are what changed since the last start (a taken port, an
	// updated key of config.yaml), said once more where people look.
	Notes []string
}

// printWelcome writes the URL to open, the demo users and where things are.
func printWelcome(w io.Writer, v welcome) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nlcw-auth-proxy demo — development only, everything runs on this machine\n\n")
	fmt.Fprintf(&b, "  Open %s\n\n", v.URL)
	fmt.Fprintf(&b, "  Sign in as one of these users (development identity provider at %s):\n", v.Issuer)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, u := range v.Users {
		fmt.Fprintf(tw, "    %s\t%s\t%s\n", u.Username, u.Password, describe(u))
	}
	_ = tw.Flush() // writes to a strings.Builder cannot fail
	fmt.Fprintln(&b)
	if v.BuiltInSite {
		fmt.Fprintf(&b, "  Site:        the built-in demo site at %s\n", v.Upstream)
	} else {
		fmt.Fprintf(&b, "  Site:        your site at %s\n", v.Upstream)
	}
	if v.Simulated {
		fmt.Fprintf(&b, "  Chat widget: SIMULATED, from %s\n", v.Widget.Src)
	} else {
		fmt.Fprintf(&b, "  Chat widget: your Omnichannel widget (app %s, org %s)\n", v.Widget.AppID, v.Widget.OrgID)
		fmt.Fprintf(&b, "               Its chat authentication setting needs the JavaScript client function\n")
		fmt.Fprintf(&b, "               lcwAuth.getAuthenticationToken and a public key URL Omnichannel's servers\n")
		fmt.Fprintf(&b, "               can reach: %s is only on this machine,\n", v.PublicKeyURL)
		fmt.Fprintf(&b, "               so publish that key (or expose the URL through a tunnel) and keep it with --state.\n")
	}
	fmt.Fprintf(&b, "  Public key:  %s\n", v.PublicKeyURL)
	state := "removed on exit"
	if v.KeptState {
		state = "kept"
	}
	fmt.Fprintf(&b, "  State:       %s (%s): signing key, cookie secret and %s\n", v.StateDir, state, v.Config)
	if v.KeptState {
		fmt.Fprintf(&b, "               The same ports next time; your edits to config.yaml are kept.\n")
	}
	for _, n := range v.Notes {
		fmt.Fprintf(&b, "  Note:        %s\n", n)
	}
	fmt.Fprintf(&b, "\n  Your own site and IdP: lcw-auth-proxy init writes a real configuration to start from\n")
	fmt.Fprintf(&b, "  (go run ./cmd/lcw-auth-proxy init --help; README, \"Your own site\").\n\n")
	fmt.Fprintf(&b, "Press Ctrl+C to stop.\n")
	_, _ = io.WriteString(w, b.String()) // nowhere to report a failed write to stdout
}

// describe sums up how a user's claims differ, for the user list.
func describe(u devidp.User) string {
	name := strings.TrimSpace(u.FirstName + " " + u.LastName)
	var extra []string
	if g, ok := u.Claims["groups"]; ok {
		extra = append(extra, fmt.Sprintf("groups %v", g))
	}
	if c, ok := u.Claims["cart_value"]; ok {
		extra = append(extra, fmt.Sprintf("cart %v", c))
	}
	if len(extra) == 0 {
		extra = append(extra, "no extra claims")
	}
	return name + " — " + strings.Join(extra, ", ")
}
