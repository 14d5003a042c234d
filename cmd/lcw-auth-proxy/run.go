package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/app"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/cmd/internal/preflight"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/heapfloor"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

const usage = `lcw-auth-proxy — authenticated Omnichannel live chat in front of any website

Usage:
  lcw-auth-proxy init [--idp NAME] [--out DIR] [flags]         write a commented config.yaml, a signing key pair and a cookie
                                                               secret for a real site, and say what to register where; asks
                                                               in a terminal for what the flags leave out (init --help)
  lcw-auth-proxy serve --config FILE                           run the proxy (a bare --config FILE also serves)
  lcw-auth-proxy check-config --config FILE [--online]         refuse what serve would refuse; print the effective configuration,
                                                               secrets redacted; --online: ask the IdP and the upstream too
  lcw-auth-proxy keygen --out DIR [--bits 2048]                write a new RSA signing key pair
  lcw-auth-proxy token --config FILE --claims FILE [--decode]  mint a chat token offline from sample claims
  lcw-auth-proxy verify --key URL|FILE TOKEN|-                 check a token the way Omnichannel does
  lcw-auth-proxy sessions list|revoke --config FILE --sub SUB  list [--json] or end a user's sessions (session.store: redis);
                                                               --email ADDRESS in place of --sub (any letter case)
  lcw-auth-proxy doctor [flags] URL                            check a deployed site as Omnichannel and a browser see it
                                                               (keys, page, CSP, token endpoint; doctor --help)
  lcw-auth-proxy sleep DURATION                                wait, then exit 0: a preStop hook for images without a shell
  lcw-auth-proxy version                                       print the version
  lcw-auth-proxy help                                          show this help

Every configuration key can also be set from the environment as LCW_ + the
upper-case key path, e.g. LCW_UPSTREAM_URL or LCW_OIDC_CLIENT_SECRET; an
LCW_* variable that sets nothing stops the proxy (a typo is never ignored).
Relative paths in the config file are resolved against the file's directory.
`

// usageError marks mistakes in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// process is what the program takes from its surroundings besides the
// arguments and the output streams.
type process struct {
	getenv func(string) string
	// environ lists every variable ("NAME=value"), so that a misspelt LCW_*
	// name is refused instead of ignored; nil when only getenv is known.
	environ []string
	// stdin is where init reads answers, and only when interactive (a
	// terminal): a script or CI job never waits on a question.
	stdin       io.Reader
	interactive bool
	// heapFloor is serve's minimum heap goal for the garbage collector
	// (heapfloor.Start); main sets it, tests (many serves in one process)
	// leave it 0.
	heapFloor uint64
}

// loadConfig loads the configuration with every check the environment
// allows: with the list of names, unknown LCW_* variables are refused.
func (p process) loadConfig(path string) (*config.Config, error) {
	if p.environ != nil {
		return config.LoadEnviron(path, p.environ)
	}
	return config.Load(path, p.getenv)
}

// run is the whole program, callable in-process by tests, given the
// environment as a lookup function. main calls runProcess with the whole
// process environment instead (see process).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runProcess(ctx, args, process{getenv: getenv}, stdout, stderr)
}

func runProcess(ctx context.Context, args []string, p process, stdout, stderr io.Writer) error {
	getenv := p.getenv
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || args[0] == "-h" || args[0] == "--help") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, p, stderr)
	case "check-config":
		return checkConfig(ctx, args, p, stdout)
	case "init":
		return initCmd(args, p, stdout, stderr)
	case "keygen":
		return keygenCmd(ctx, args, getenv, stdout, stderr)
	case "token":
		return tokenCmd(ctx, args, p, stdout, stderr)
	case "verify":
		return verifyCmd(ctx, args, getenv, stdout, stderr)
	case "sessions":
		return sessionsCmd(ctx, args, p, stdout, stderr)
	case "doctor":
		return doctorCmd(ctx, args, getenv, stdout, stderr)
	case "sleep":
		return sleepCmd(ctx, args)
	case "version":
		fmt.Fprintln(stdout, "lcw-auth-proxy", buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q; run lcw-auth-proxy help", cmd)}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// newFlagSet starts the flags of subcommand name. The flag package prints
// nothing itself: its errors become usageErrors, which main prints once.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseError turns an error from fs.Parse into a usageError; -h and --help
// ask for the usage text.
func parseError(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return usageError{usage}
	}
	return usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
}

// parseFlags parses fs from args, letting flags and positional arguments mix
// (verify --key K TOKEN and verify TOKEN --key K both work).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, parseError(fs, err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// configFlags parses the flags every config-reading command shares and
// loads the configuration; more, when given, adds the command's own.
func configFlags(name string, args []string, p process, more func(*flag.FlagSet)) (*config.Config, error) {
	path, err := configPath(name, args, p, more)
	if err != nil {
		return nil, err
	}
	return p.loadConfig(path)
}

// configPath parses the flags of a config-reading command: --config
// (LCW_CONFIG by default) and, when more is given, the command's own. A
// command that checks its own flags before the file is read calls it, then
// p.loadConfig: every command that reads the configuration finds it the
// same way and refuses the same mistakes (a misspelt LCW_* variable
// among them).
func configPath(name string, args []string, p process, more func(*flag.FlagSet)) (string, error) {
	fs := newFlagSet(name)
	path := fs.String("config", p.getenv(config.ConfigFileEnv), "configuration file (YAML)")
	if more != nil {
		more(fs)
	}
	// Not parseFlags: these commands take no positional argument, so the
	// first one is the mistake to report, whatever follows it.
	if err := fs.Parse(args); err != nil {
		return "", parseError(fs, err)
	}
	if fs.NArg() > 0 {
		return "", usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	if *path == "" {
		return "", usageError{fmt.Sprintf("%s: --config FILE is required (or LCW_CONFIG)", name)}
	}
	return *path, nil
}

func serve(ctx context.Context, args []string, p process, stderr io.Writer) error {
	cfg, err := configFlags("serve", args, p, nil)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.Log, stderr)
	a, err := app.NewWithOptions(cfg, log, app.Options{Version: buildVersion()})
	if err != nil {
		return err
	}
	heapfloor.Start(ctx, p.heapFloor, p.getenv)
	log.Info("starting", slog.String("version", buildVersion()), slog.String("upstream", config.RedactURL(cfg.UpstreamURL.String())),
		slog.String("public_url", cfg.PublicURL), slog.String("tracing", cfg.Tracing.Export.String()))
	for _, w := range cfg.Warnings() {
		log.Warn("configuration", slog.String("warning", w))
	}
	return a.Run(ctx)
}

// checkConfig refuses whatever serve would refuse: it loads the
// configuration and then builds the whole proxy from it (every file read,
// every key parsed, the upstream transport and sign-in set up), stopping
// short of listening and of contacting anyone. --online then asks the
// provider and the upstream whether they answer.
func checkConfig(ctx context.Context, args []string, p process, stdout io.Writer) error {
	var online bool
	cfg, err := configFlags("check-config", args, p, func(fs *flag.FlagSet) {
		fs.BoolVar(&online, "online", false, "also fetch the IdP's discovery document and keys and check that the upstream answers")
	})
	if err != nil {
		return err
	}
	if _, err := app.New(cfg, slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	out, err := cfg.Redacted()
	if err != nil {
		return fmt.Errorf("render configuration: %w", err)
	}
	fmt.Fprintf(stdout, "# configuration is valid\n%s", out)
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stdout, "# warning: %s\n", w)
	}
	if !online {
		return nil
	}
	// As YAML comments, so the whole output still reads as the config.
	fmt.Fprintln(stdout, "# online checks:")
	failed := 0
	for _, f := range preflight.Online(ctx, cfg) {
		fmt.Fprintf(stdout, "#   %s\n", f)
		if !f.OK {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("check-config --online: %d check(s) failed, listed above with the fix", failed)
	}
	return nil
}
