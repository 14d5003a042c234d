package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/app"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

const usage = `lcw-auth-proxy — authenticated Omnichannel live chat in front of any website

Usage:
  lcw-auth-proxy serve --config FILE                           run the proxy (a bare --config FILE also serves)
  lcw-auth-proxy check-config --config FILE                    validate and print the effective configuration, secrets redacted
  lcw-auth-proxy keygen --out DIR [--bits 2048]                write a new RSA signing key pair
  lcw-auth-proxy token --config FILE --claims FILE [--decode]  mint a chat token offline from sample claims
  lcw-auth-proxy verify --key URL|FILE TOKEN|-                 check a token the way Omnichannel does
  lcw-auth-proxy version                                       print the version
  lcw-auth-proxy help                                          show this help

Every configuration key can also be set from the environment as LCW_ + the
upper-case key path, e.g. LCW_UPSTREAM_URL or LCW_OIDC_CLIENT_SECRET.
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

// run is the whole program, callable in-process by tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || args[0] == "-h" || args[0] == "--help") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stderr)
	case "check-config":
		return checkConfig(args, getenv, stdout)
	case "keygen":
		return keygenCmd(ctx, args, getenv, stdout, stderr)
	case "token":
		return tokenCmd(ctx, args, getenv, stdout, stderr)
	case "verify":
		return verifyCmd(ctx, args, getenv, stdout, stderr)
	case "doctor":
		return doctorCmd(ctx, args, getenv, stdout, stderr)
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

// configFlags parses the flags every config-reading command shares.
func configFlags(name string, args []string, getenv func(string) string) (*config.Config, error) {
	fs := newFlagSet(name)
	path := fs.String("config", getenv("LCW_CONFIG"), "configuration file (YAML)")
	// Not parseFlags: these commands take no positional argument, so the
	// first one is the mistake to report, whatever follows it.
	if err := fs.Parse(args); err != nil {
		return nil, parseError(fs, err)
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	if *path == "" {
		return nil, usageError{fmt.Sprintf("%s: --config FILE is required (or LCW_CONFIG)", name)}
	}
	return config.Load(*path, getenv)
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := configFlags("serve", args, getenv)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.Log, stderr)
	a, err := app.New(cfg, log)
	if err != nil {
		return err
	}
	log.Info("starting", "version", buildVersion(), "upstream", cfg.UpstreamURL.Redacted(), "public_url", cfg.PublicURL)
	return a.Run(ctx)
}

func checkConfig(args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := configFlags("check-config", args, getenv)
	if err != nil {
		return err
	}
	out, err := cfg.Redacted()
	if err != nil {
		return fmt.Errorf("render configuration: %w", err)
	}
	fmt.Fprintf(stdout, "# configuration is valid\n%s", out)
	return nil
}
