// Package image checks the container image's binary without Docker: no
// Docker engine runs where the tests do, so the test builds the binary with
// the Dockerfile's own command (build.sh) and checks what the image would
// ship.
package image

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/internal/testenv"
)

// The version stamped by the test: nothing else produces it, so finding it
// proves the stamp works.
const testVersion = "v0.0.0-imagecheck"

func TestImageBinary(t *testing.T) {
	goTool := testenv.Tool(t, "go", "the Go toolchain", "go")
	fileTool := testenv.Tool(t, "file", "Debian package file; make file installs it", "file")
	bin := filepath.Join(t.TempDir(), "lcw-auth-proxy")

	build := exec.Command("sh", "build.sh", bin, testVersion)
	// The Makefile exports CGO_ENABLED=1 for the race detector; build.sh
	// must win over the environment, as it does in the Dockerfile.
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}

	t.Run("build settings", func(t *testing.T) {
		info := output(t, goTool, "version", "-m", bin)
		settings := map[string]string{}
		var deps []string
		sc := bufio.NewScanner(bytes.NewReader(info))
		for sc.Scan() {
			f := strings.SplitN(strings.TrimSpace(sc.Text()), "\t", 3)
			switch {
			case len(f) >= 2 && f[0] == "build":
				k, v, _ := strings.Cut(f[1], "=")
				settings[k] = strings.Trim(v, `"`)
			case len(f) >= 2 && (f[0] == "dep" || f[0] == "=>"):
				deps = append(deps, f[1])
			}
		}
		// -ldflags is not there to check: with -trimpath the go command
		// leaves it out of the build info (it may hold paths). The ELF
		// checks below and the version output stand for it.
		for k, want := range map[string]string{
			"-trimpath":   "true",
			"CGO_ENABLED": "0",
		} {
			if settings[k] != want {
				t.Errorf("go version -m: build %s=%q, want %q\n%s", k, settings[k], want, info)
			}
		}
		// The demo's development IdP and the browser tests' driver never
		// belong in the production binary.
		for _, d := range deps {
			if d == "github.com/zitadel/oidc/v3" || d == "github.com/chromedp/chromedp" {
				t.Errorf("the binary links %s (demo or test code)", d)
			}
		}
		// -trimpath: file names in the binary (stack traces) are module
		// paths, never the build machine's directories.
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(repoRoot(t)+"/")) {
			t.Errorf("the binary holds the build machine's path %s", repoRoot(t))
		}
	})

	t.Run("static and stripped", func(t *testing.T) {
		// -b: the description alone, without the file name.
		desc := string(output(t, fileTool, "-b", bin))
		if !strings.Contains(desc, "statically linked") {
			t.Errorf("file: %s: want statically linked (the distroless/static image has no libc)", desc)
		}
		if !regexp.MustCompile(`(^|, )stripped`).MatchString(desc) {
			t.Errorf("file: %s: want stripped", desc)
		}
	})

	t.Run("no symbols or DWARF", func(t *testing.T) {
		// -s drops the symbol table, -w the DWARF debug information.
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Type != elf.ET_EXEC {
			t.Errorf("ELF type %s, want a fixed executable (no PIE: nothing to relocate at start-up)", f.Type)
		}
		for _, sec := range f.Sections {
			if sec.Name == ".symtab" || sec.Name == ".interp" || sec.Name == ".dynamic" ||
				strings.HasPrefix(sec.Name, ".debug_") || strings.HasPrefix(sec.Name, ".zdebug_") {
				t.Errorf("section %s: want a binary built with -s -w and without cgo", sec.Name)
			}
		}
	})

	// serve gives the collector an 8 MiB heap floor (internal/heapfloor)
	// unless GOGC is set: seen in the release binary's own Go metrics.
	t.Run("heap floor", func(t *testing.T) {
		dir := t.TempDir()
		output(t, bin, "keygen", "--out", dir)
		env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "LCW_")
		})
		for _, c := range []struct {
			env       []string
			gogc      string
			minNextGC float64
			maxNextGC float64
		}{
			{nil, "200", 15 << 19, 17 << 19},
			{[]string{"GOGC=100"}, "100", 0, 8 << 20},
		} {
			metrics := serveMetrics(t, bin, dir, append(env, c.env...))
			if got := metrics["go_gc_gogc_percent"]; got != c.gogc {
				t.Errorf("env %q: go_gc_gogc_percent = %q, want %s", c.env, got, c.gogc)
			}
			next, err := strconv.ParseFloat(metrics["go_memstats_next_gc_bytes"], 64)
			if err != nil || next < c.minNextGC || next > c.maxNextGC {
				t.Errorf("env %q: go_memstats_next_gc_bytes = %q, want between %.0f and %.0f", c.env, metrics["go_memstats_next_gc_bytes"], c.minNextGC, c.maxNextGC)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		out := strings.TrimSpace(string(output(t, bin, "version")))
		if out != "lcw-auth-proxy "+testVersion {
			t.Errorf("lcw-auth-proxy version = %q, want %q", out, "lcw-auth-proxy "+testVersion)
		}
	})
}

// TestDockerfileUsesBuildScript keeps the Dockerfile on build.sh: a go build
// of its own would no longer be the binary TestImageBinary checks.
func TestDockerfileUsesBuildScript(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var runs []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "RUN ") {
			runs = append(runs, strings.TrimSpace(line))
		}
	}
	uses := 0
	for _, r := range runs {
		if strings.Contains(r, "go build") || strings.Contains(r, "go install") {
			t.Errorf("Dockerfile builds on its own (%q): run deploy/image/build.sh instead", r)
		}
		if strings.Contains(r, "deploy/image/build.sh /out/lcw-auth-proxy") {
			uses++
		}
	}
	if uses != 1 {
		t.Errorf("Dockerfile runs deploy/image/build.sh %d times, want once; RUN lines: %q", uses, runs)
	}
	if !strings.Contains(string(data), "COPY --from=build /out/lcw-auth-proxy ") {
		t.Error("the final stage does not copy /out/lcw-auth-proxy, the binary build.sh writes")
	}
}

// serveMetrics runs bin serve with a minimal configuration (its upstream
// and IdP at addresses that refuse connections: serve starts anyway) and
// environment env, and returns its /metrics samples by name (the last of
// each name).
func serveMetrics(t *testing.T, bin, dir string, env []string) map[string]string {
	t.Helper()
	metricsAddr := testenv.FreeAddr(t)
	addr := testenv.FreeAddr(t)
	cfg := filepath.Join(dir, "config.yaml")
	data := fmt.Sprintf(`listen: %s
metrics_listen: %s
public_url: http://%s
upstream:
  url: http://%s
oidc:
  issuer: http://%s/unused
  client_id: image-check
session:
  secret: %s
token:
  issuer: image-check.example.com
  signing_keys:
    - file: %s
`, addr, metricsAddr, addr, testenv.ClosedAddr(t), testenv.ClosedAddr(t),
		"Not0Tu1CTls5GIrNJiTMBmEUsGorGtLV54cMXmaee4A=", filepath.Join(dir, "lcw-signing-key.pem"))
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			samples := map[string]string{}
			for line := range strings.Lines(string(body)) {
				if name, value, ok := strings.Cut(strings.TrimSpace(line), " "); ok && !strings.HasPrefix(name, "#") {
					samples[name] = value
				}
			}
			return samples
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve's metrics on %s did not answer in 10s: %v\n%s", metricsAddr, err, stderr.Bytes())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func output(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}
