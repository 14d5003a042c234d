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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lcw-auth-proxy:", err)
		os.Exit(exitCode(err))
	}
}
