package main

import (
	"context"
	"fmt"
	"time"
)

// sleepCmd waits for the given duration and exits 0. It is the Helm chart's
// preStop hook: the image is distroless (no sleep binary), and Kubernetes'
// own sleep action is only on by default from 1.30, so on 1.29 the delay
// that lets Services and ingress controllers drop the pod before SIGTERM
// needs the binary itself. A cancelled context (the hook's own SIGTERM)
// ends the wait early without an error.
func sleepCmd(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return usageError{"sleep takes one duration, e.g. lcw-auth-proxy sleep 5s"}
	}
	d, err := time.ParseDuration(args[0])
	if err != nil || d < 0 {
		return usageError{fmt.Sprintf("sleep %q: want a duration such as 5s", args[0])}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}
