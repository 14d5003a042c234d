package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/app"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/preflight"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/devidp"
)

const usage = `lcw-demo — try lcw-auth-proxy in a browser with nothing to set up

Usage:
  go run ./cmd/lcw-demo [flags]

Starts, on this machine only: a development OpenID provider with demo users,
a small demo website, a simulated Omnichannel chat widget, and lcw-auth-proxy
in front of the site. Open the printed URL, sign in, click "Chat with us".
For a real site and IdP, use lcw-auth-proxy init instead.

Flags:
  --listen ADDR          where the proxy listens (default 127.0.0.1:4180; loopback only)
  --state DIR            keep the signing key, cookie secret, ports and config.yaml in DIR:
                         the same URLs on every start, and edits to config.yaml stay
                         (default: a temporary directory removed on exit)
  --upstream URL         put the proxy in front of your own site instead of the demo site
  --widget-app-id ID     use your real Omnichannel widget instead of the simulated one:
  --widget-org-id ID       the data-app-id, data-org-id, data-org-url and src values
  --widget-org-url URL     of the widget's embed code (src defaults to the prod CDN)
  --widget-src URL
`

// defaultWidgetSrc is Omnichannel's loader on its production CDN; regional
// orgs pass their own with --widget-src.
const defaultWidgetSrc = "https://oc-cdn-ocprod.azureedge.net/livechatwidget/scripts/LiveChatBootstrapper.js"

// simulatedOrgID and simulatedAppID fill the widget tag's required
// attributes when the simulated widget is used; it ignores them.
const (
	simulatedAppID = "00000000-0000-0000-0000-00000000a991"
	simulatedOrgID = "00000000-0000-0000-0000-000000000e9d"
)

// readyTimeout bounds the wait for the proxy's readiness before the URL is
// printed; everything is local, so it is ready in well under a second.
const readyTimeout = 20 * time.Second

// usageError marks mistakes in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// options are the parsed command line.
type options struct {
	listen, state, upstream string
	widget                  config.Widget // empty Src: the simulated widget
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("lcw-demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:4180", "")
	fs.StringVar(&o.state, "state", "", "")
	fs.StringVar(&o.upstream, "upstream", "", "")
	fs.StringVar(&o.widget.Src, "widget-src", "", "")
	fs.StringVar(&o.widget.AppID, "widget-app-id", "", "")
	fs.StringVar(&o.widget.OrgID, "widget-org-id", "", "")
	fs.StringVar(&o.widget.OrgURL, "widget-org-url", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, usageError{usage}
		}
		return o, usageError{fmt.Sprintf("%v (see --help)", err)}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Sprintf("unexpected argument %q (see --help)", fs.Arg(0))}
	}
	if err := devidp.RequireLoopback(o.listen); err != nil {
		return o, usageError{fmt.Sprintf("--listen: %v; the demo runs a development identity provider and must not be reachable from other machines", err)}
	}
	if o.upstream != "" {
		if u, err := url.Parse(o.upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, usageError{fmt.Sprintf("--upstream %q must be an absolute http(s) URL, e.g. http://127.0.0.1:8080", o.upstream)}
		}
	}
	w := o.widget
	if w.Src != "" || w.AppID != "" || w.OrgID != "" || w.OrgURL != "" {
		var missing []string
		for name, v := range map[string]string{"--widget-app-id": w.AppID, "--widget-org-id": w.OrgID, "--widget-org-url": w.OrgURL} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return o, usageError{fmt.Sprintf("a real widget needs --widget-app-id, --widget-org-id and --widget-org-url from its embed code; missing %s", strings.Join(slices.Sorted(slices.Values(missing)), ", "))}
		}
		if o.widget.Src == "" {
			o.widget.Src = defaultWidgetSrc
		}
	}
	return o, nil
}

// run is the whole program, callable in-process by tests. It serves until
// ctx is done.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_ = getenv // the demo needs no environment; LCW_* settings are deliberately not read
	o, err := parseFlags(args)
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) && ue.msg == usage {
			fmt.Fprint(stdout, usage)
			return nil
		}
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	dir, cleanup, err := stateDir(o.state)
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := ensureSigningKey(dir); err != nil {
		return err
	}
	if _, err := ensureCookieSecret(dir); err != nil {
		return err
	}
	// With --state, every start reuses the addresses of the last one, so
	// the URLs (the IdP's issuer above all) and config.yaml stay the same.
	st, err := loadState(dir)
	if err != nil {
		return err
	}
	var notes []string

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	servers := &serverGroup{errc: make(chan error, 4)}
	defer servers.close()

	proxyLn, err := listenProxy(o.listen, &st, &notes)
	if err != nil {
		return err
	}
	defer proxyLn.Close() // for early returns; the proxy's server closes it otherwise
	public := "http://" + proxyLn.Addr().String()

	simulated := o.widget.Src == ""
	upstream := o.upstream
	if upstream != "" {
		// A site that is not running shows up only as a 502 in the
		// browser: say so now. Not a refusal: it may be started later.
		if note := checkUpstream(ctx, upstream); note != "" {
			notes = append(notes, note)
		}
	}
	if upstream == "" {
		upstream, err = servers.start("site", newSite(prefix, simulated, log).Handler(), &st, &notes)
		if err != nil {
			return err
		}
	}
	widget := o.widget
	if simulated {
		cdn, err := servers.start("widget", widgetHost(), &st, &notes)
		if err != nil {
			return err
		}
		widget = config.Widget{Src: cdn + widgetLoaderPath, AppID: simulatedAppID, OrgID: simulatedOrgID, OrgURL: cdn}
	}

	idp, err := startIdP(devidp.Options{
		RedirectURIs:           []string{public + prefix + "/callback"},
		PostLogoutRedirectURIs: []string{public + "/"},
		Logger:                 log,
	}, &st, &notes)
	if err != nil {
		return err
	}
	defer idp.Stop()

	cfg, cfgPath, changes, err := prepareConfig(dir, demoConfig{
		Listen: proxyLn.Addr().String(), PublicURL: public, Upstream: upstream,
		Issuer: idp.Issuer, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
		// Relative: they resolve against config.yaml's directory, which
		// is the state directory, wherever it is later moved.
		SecretFile: cookieSecretFile, KeyFile: keys.PrivateKeyFile, Widget: widget, Simulated: simulated,
	}, &st)
	if err != nil {
		return err
	}
	for _, c := range changes {
		notes = append(notes, fmt.Sprintf("%s: updated %s", configFile, c))
	}
	if err := st.save(dir); err != nil {
		return err
	}
	for _, n := range notes {
		log.Warn(n)
	}
	a, err := app.New(cfg, app.NewLogger(cfg.Log, stderr))
	if err != nil {
		return fmt.Errorf("start the proxy: %w", err)
	}
	// The proxy runs exactly as lcw-auth-proxy serve runs it, on the port
	// opened above.
	proxyDone := make(chan error, 1)
	go func() { proxyDone <- a.RunOn(ctx, proxyLn) }()

	if err := waitReady(ctx, public+prefix+"/readyz", a.Ready); err != nil {
		log.Warn("the proxy is not ready yet; the page may show errors for a moment", slog.String("error", err.Error()))
	}
	printWelcome(stdout, welcome{
		URL: public + "/", Issuer: idp.Issuer, Users: idp.Users, Upstream: upstream, BuiltInSite: o.upstream == "",
		Widget: widget, Simulated: simulated, PublicKeyURL: public + prefix + "/public-key.pem",
		StateDir: dir, Config: cfgPath, KeptState: o.state != "", Notes: notes,
	})

	select {
	case <-ctx.Done():
	case err = <-servers.errc:
	case err = <-proxyDone:
		return err
	}
	cancel() // graceful shutdown of the proxy (shutdown_timeout)
	if perr := <-proxyDone; perr != nil {
		err = errors.Join(err, fmt.Errorf("shut down the proxy: %w", perr))
	}
	return err
}

// serverGroup runs the demo's loopback servers and closes them together.
type serverGroup struct {
	servers []*http.Server
	errc    chan error
}

// start serves h on the loopback port remembered for name in st (a free
// one the first time), records the port and returns its base URL.
func (g *serverGroup) start(name string, h http.Handler, st *demoState, notes *[]string) (string, error) {
	ln, note, err := st.listenRemembered(name, "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	if note != "" {
		*notes = append(*notes, note)
	}
	st.Addrs[name] = ln.Addr().String()
	g.serve(name, ln, h)
	return "http://" + ln.Addr().String(), nil
}

// listenProxy opens the proxy's port: --listen as given, or, when it asks
// for any free port (:0), the one remembered from the last start.
func listenProxy(listen string, st *demoState, notes *[]string) (net.Listener, error) {
	if _, port, err := net.SplitHostPort(listen); err == nil && port == "0" {
		ln, note, err := st.listenRemembered("proxy", listen)
		if err != nil {
			return nil, err
		}
		if note != "" {
			*notes = append(*notes, note)
		}
		st.Addrs["proxy"] = ln.Addr().String()
		return ln, nil
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another demo running? choose another port with --listen)", listen, err)
	}
	return ln, nil
}

// upstreamCheckTimeout bounds the start-up check of --upstream: a local
// site answers at once or not at all.
const upstreamCheckTimeout = 3 * time.Second

// checkUpstream asks the user's site for its front page, as the proxy
// would; it returns a warning when nothing answers, "" when anything does
// (an error status included).
func checkUpstream(ctx context.Context, upstream string) string {
	u, err := url.Parse(upstream)
	if err != nil {
		return "" // parseFlags already refused it
	}
	ctx, cancel := context.WithTimeout(ctx, upstreamCheckTimeout)
	defer cancel()
	up := config.Default().Upstream
	up.DialTimeout = config.Duration(upstreamCheckTimeout)
	f := preflight.Upstream(ctx, u, up)
	if f.OK {
		return ""
	}
	return fmt.Sprintf("--upstream: %s. Start your site there (the demo runs anyway; until the site answers, its pages show 502 Bad Gateway)", f.Msg)
}

// startIdP starts the development IdP on its remembered port, or on a new
// one when that is taken (its issuer then changes, and config.yaml with it).
func startIdP(opts devidp.Options, st *demoState, notes *[]string) (*devidp.Provider, error) {
	opts.Addr = st.Addrs["idp"]
	idp, err := devidp.Start(opts)
	if err != nil && opts.Addr != "" && errors.Is(err, syscall.EADDRINUSE) {
		*notes = append(*notes, fmt.Sprintf("the idp's port %s (remembered in %s) is taken by another program; using a new one", opts.Addr, stateFile))
		opts.Addr = ""
		idp, err = devidp.Start(opts)
	}
	if err != nil {
		return nil, err
	}
	st.Addrs["idp"] = idp.Addr
	return idp, nil
}

// serve runs h on ln in the background.
func (g *serverGroup) serve(name string, ln net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	g.servers = append(g.servers, srv)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			select {
			case g.errc <- fmt.Errorf("serve the %s: %w", name, err):
			default:
			}
		}
	}()
	return srv
}

func (g *serverGroup) close() {
	for _, s := range g.servers {
		_ = s.Close() // shutting down; a listener error changes nothing
	}
}

// waitReady polls the proxy's readiness endpoint until it answers 200
// and signIn (the IdP discovered) reports nil.
func waitReady(ctx context.Context, url string, signIn func() error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("readiness request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("%s answered %s", url, resp.Status)
			if resp.StatusCode == http.StatusOK {
				// Readiness is the proxy's own; sign-in also needs the
				// IdP discovered, which the welcome's links lead to.
				if err = signIn(); err == nil {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}
