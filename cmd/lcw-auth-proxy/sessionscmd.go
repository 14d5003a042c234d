package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/session"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
)

// sessionsCmd lists or revokes one person's server-side sessions, named
// by subject or by email address: what an operator does when an account
// is compromised or a user leaves, without waiting for the IdP or the
// session lifetime. list without --sub or --email lists every session (in
// batches, however many there are).
func sessionsCmd(ctx context.Context, args []string, p process, stdout, _ io.Writer) error {
	const usage = "lcw-auth-proxy sessions list [--sub SUB | --email ADDRESS] [--json] | revoke --sub SUB | --email ADDRESS, with --config FILE"
	if len(args) == 0 || (args[0] != "list" && args[0] != "revoke") {
		return usageError{"sessions: say list or revoke: " + usage}
	}
	action := args[0]
	var sub, email string
	var asJSON bool
	path, err := configPath("sessions "+action, args[1:], p, func(fs *flag.FlagSet) {
		fs.StringVar(&sub, "sub", "", "the subject: the sub claim of the user's ID token (list: every session without --sub or --email)")
		fs.StringVar(&email, "email", "", "the user's (verified) email address, in any letter case: every session signed in with it")
		fs.BoolVar(&asJSON, "json", false, "list: print JSON instead of a table")
	})
	switch {
	case err != nil:
		return err
	case sub != "" && email != "":
		return usageError{"sessions " + action + ": give --sub or --email, not both"}
	case email != "" && strings.TrimSpace(email) == "":
		return usageError{"sessions " + action + ": --email is empty"}
	case sub == "" && email == "" && action == "revoke":
		return usageError{"sessions revoke: --sub SUB (the user's sub claim) or --email ADDRESS is required"}
	case asJSON && action != "list":
		return usageError{"sessions revoke: --json is for list"}
	}
	cfg, err := p.loadConfig(path)
	if err != nil {
		return err
	}
	srv, closeStore, err := openServerStore(ctx, cfg.Session)
	if err != nil {
		return fmt.Errorf("sessions %s: %w", action, err)
	}
	defer closeStore()
	whose := fmt.Sprintf("%q", sub)
	if email != "" {
		whose = fmt.Sprintf("email %q", email)
	}
	if action == "revoke" {
		var n int
		if email != "" {
			n, err = srv.EndEmail(ctx, email)
		} else {
			n, err = srv.EndSubject(ctx, sub)
		}
		if err != nil {
			return fmt.Errorf("sessions revoke: after %d ended: %w", n, err)
		}
		fmt.Fprintf(stdout, "revoked %d session(s) of %s\n", n, whose)
		return nil
	}
	var infos []session.Info
	if email != "" {
		infos, err = srv.ListEmail(ctx, email)
	} else {
		infos, err = srv.List(ctx, sub)
	}
	if err != nil {
		return fmt.Errorf("sessions list: %w", err)
	}
	slices.SortFunc(infos, func(a, b session.Info) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if asJSON {
		if infos == nil {
			infos = []session.Info{} // [] rather than null for scripts
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(infos)
	}
	if sub == "" && email == "" {
		whose = ""
	}
	return printSessions(stdout, whose, sub == "", infos)
}

// sessionAdmin is what the sessions command needs of the store: listing
// and ending a subject's or an email address's sessions, and a first question that tells an
// unreachable Redis apart from a failed command. Only a server-side store
// (session.RedisStore) has it.
type sessionAdmin interface {
	List(ctx context.Context, sub string) ([]session.Info, error)
	ListEmail(ctx context.Context, email string) ([]session.Info, error)
	EndSubject(ctx context.Context, sub string) (int, error)
	EndEmail(ctx context.Context, email string) (int, error)
	Ping(ctx context.Context) error
}

// openServerStore connects to the store the proxy uses. Only a server-side
// store holds sessions the server can list or end.
func openServerStore(ctx context.Context, cfg config.Session) (sessionAdmin, func(), error) {
	if cfg.Store != "redis" {
		return nil, nil, fmt.Errorf("session.store is %q: sessions live in the browsers' cookies, so the server can neither list nor revoke them; use session.store: redis", cfg.Store)
	}
	codec, err := session.NewCodec(cfg.Keys)
	if err != nil {
		return nil, nil, fmt.Errorf("session keys: %w", err)
	}
	store, closeStore, err := session.New(cfg, codec, session.Options{})
	if err != nil {
		return nil, nil, err
	}
	srv, ok := store.(sessionAdmin)
	if !ok { // session.New returned the cookie store for "redis": a bug
		closeStore()
		return nil, nil, errors.New("the session store is not server-side")
	}
	// A clear "cannot reach" now, rather than from the first command.
	if err := srv.Ping(ctx); err != nil {
		closeStore()
		return nil, nil, fmt.Errorf("cannot reach Redis (session.redis): %w", err)
	}
	return srv, closeStore, nil
}

// printSessions writes the table of list: never a token, only what tells
// sessions apart and whose they are. whose names the listing ("" for
// everyone); withSub adds the subject column (a listing by subject needs
// none). Texts from the IdP are quoted.
func printSessions(w io.Writer, whose string, withSub bool, infos []session.Info) error {
	switch {
	case len(infos) == 0 && whose == "":
		_, err := fmt.Fprintln(w, "no sessions")
		return err
	case len(infos) == 0:
		_, err := fmt.Fprintf(w, "no sessions of %s\n", whose)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if withSub {
		fmt.Fprintln(tw, "ID\tSUB\tEMAIL\tNAME\tCREATED\tEXPIRES\tLAST REFRESH\tSID")
	} else {
		fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tCREATED\tEXPIRES\tLAST REFRESH\tSID")
	}
	for _, in := range infos {
		fmt.Fprintf(tw, "%s\t", in.ID)
		if withSub {
			fmt.Fprintf(tw, "%q\t", in.Subject)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", quotedOrDash(in.Email), quotedOrDash(in.Name),
			stamp(in.CreatedAt), stamp(in.Expiry), stamp(in.RefreshedAt), orDash(in.SID))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func quotedOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return strconv.Quote(s)
}
