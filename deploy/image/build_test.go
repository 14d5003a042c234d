// Package image checks the container image's binary without Docker: no
// Docker engine runs where the tests do, so the test builds the binary with
// the Dockerfile's own command (build.sh) and checks what the image would
// ship.
package image

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
