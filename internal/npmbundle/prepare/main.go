// Command prepare fills the npm cache before the tests ask for it: make
// test runs it beside the other downloads, so the widget tests do not wait
// minutes for npm ci. Usage: prepare DIR BUILD:FILES... [BUILD:FILES...]
// (one build per argument, its files separated by colons, as the tests
// call testenv.NPMBundle; not commas, which make's $(call) would split).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/npmbundle"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: prepare DIR BUILD:FILES... [BUILD:FILES...]")
		os.Exit(2)
	}
	dir := os.Args[1]
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	for _, b := range os.Args[2:] {
		if _, err := npmbundle.Build(context.Background(), dir, logf, strings.Split(b, ":")...); err != nil {
			if errors.Is(err, npmbundle.ErrNoNode) && os.Getenv("CI") != "true" {
				fmt.Fprintf(os.Stderr, "%v: the widget tests will skip\n", err)
				return
			}
			fmt.Fprintf(os.Stderr, "npm bundle %s in %s: %v\n", b, dir, err)
			os.Exit(1)
		}
	}
}
