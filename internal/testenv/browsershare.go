package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A Chromium costs about two CPU-seconds to start and stop, more than most
// browser tests spend in it. Under Main, a test binary starts one and gives
// each Browser call (without options) a tab in a new browser context of
// its own: an off-the-record profile with its own cookies, storage and
// cache, as separate from the other tests' as a fresh browser.
var shared struct {
	mu      sync.Mutex
	on      bool // Main runs the tests
	root    context.Context
	stop    func()
	profile string
	err     error
}

// Main runs a package's tests (call it from TestMain) with one Chromium
// shared by their Browser calls, and ends it when they are done.
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.on = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	if shared.stop != nil {
		shared.stop()
		os.RemoveAll(shared.profile)
	}
	shared.mu.Unlock()
	os.Exit(code)
}

// sharedBrowserTab returns a tab of the shared Chromium (starting it on
// first use) in a browser context that ends with t, or false outside Main.
func sharedBrowserTab(t testing.TB, path string, timeout time.Duration) (context.Context, bool) {
	t.Helper()
	root, err := sharedBrowser(path)
	if root == nil && err == nil {
		return nil, false
	}
	if err != nil {
		t.Fatalf("testenv.Browser: %v", err)
	}
	tab, closeTab := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	ctx, cancel := context.WithTimeout(tab, timeout)
	t.Cleanup(func() {
		cancel()
		closeTab() // closes the tab and disposes of its browser context
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("testenv.Browser: open a tab in %s: %v", path, err)
	}
	return ctx, true
}

// sharedBrowser starts the shared Chromium once; nil, nil outside Main.
func sharedBrowser(path string) (context.Context, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.on || shared.err != nil {
		return nil, shared.err
	}
	if shared.root != nil {
		return shared.root, nil
	}
	profile, err := os.MkdirTemp("", "lcw-chromium-")
	if err != nil {
		shared.err = fmt.Errorf("profile directory: %w", err)
		return nil, shared.err
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromiumFlags(path, profile)...)
	root, cancelRoot := chromedp.NewContext(alloc)
	if err := chromedp.Do(root); err != nil {
		cancelRoot()
		cancelAlloc()
		os.RemoveAll(profile)
		shared.err = fmt.Errorf("start %s: %w", path, err)
		return nil, shared.err
	}
	shared.root, shared.profile = root, profile
	shared.stop = func() {
		cancelRoot() // waits for the browser process to end
		cancelAlloc()
	}
	return root, nil
}
