// Command lcw-demo is the zero-setup demo of lcw-auth-proxy: on loopback
// only, it starts a development OpenID provider with demo users, a small
// "legacy" website, a simulated Omnichannel chat widget and the proxy itself
// (the product's own code, through internal/app) in front of the site.
//
//	go run ./cmd/lcw-demo
//
// It is for trying the product out and is never part of the production
// binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lcw-demo:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
