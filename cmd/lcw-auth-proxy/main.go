// Command lcw-auth-proxy puts Dynamics 365 Omnichannel authenticated live
// chat in front of any website: OIDC sign-in, the chat token endpoint and
// the injected bootstrap script, as a reverse proxy.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/config"
	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/heapfloor"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	environ := os.Environ()
	p := process{
		getenv:      config.Getenv(environ),
		environ:     environ,
		stdin:       os.Stdin,
		interactive: term.IsTerminal(int(os.Stdin.Fd())),
		heapFloor:   heapfloor.DefaultMin,
	}
	if err := runProcess(ctx, os.Args[1:], p, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lcw-auth-proxy:", err)
		os.Exit(exitCode(err))
	}
}
