package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
)

// npmMu serializes NPMBundle within a test binary.
var npmMu sync.Mutex

// minNodeMajor is the oldest Node.js the npm build tools run on (esbuild
// needs 18).
const minNodeMajor = 18

// NPMBundle builds a browser bundle from npm packages pinned in dir and
// returns its path. dir holds package.json and package-lock.json (and, in
// subdirectories, local packages they name with file:), which `npm ci`
// installs exactly as locked; build names the build script in dir (run as
// `node SCRIPT OUTFILE`) and the other files in dir it reads.
//
// Packages are installed once into a cache outside the repository, keyed by
// the content of the install files: $LCW_NPM_CACHE, else
// $XDG_CACHE_HOME/lcw-auth-proxy/npm (~/.cache/…). The bundle is rebuilt
// there whenever the build files change. Without node (18 or later) and npm
// the test is skipped, except under CI=true, where that fails it.
func NPMBundle(t testing.TB, dir string, build ...string) string {
	t.Helper()
	// Parallel tests of one binary ask for the same bundle: one builds it,
	// the others wait and find it (its temporary file names the process).
	npmMu.Lock()
	defer npmMu.Unlock()
	node, npm := nodeTools(t)
	installFiles := npmInstallFiles(t, dir)
	root := npmCacheRoot(t)
	pkgDir := filepath.Join(root, hashFiles(t, dir, installFiles))
	if _, err := os.Stat(filepath.Join(pkgDir, ".installed")); err != nil {
		npmInstall(t, npm, dir, installFiles, root, pkgDir)
	}
	// The build files sit beside node_modules, where the script expects
	// them; the bundle's name carries their hash.
	out := filepath.Join(pkgDir, "bundle-"+hashFiles(t, dir, build)+".js")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	for _, f := range build {
		copyFile(t, filepath.Join(dir, f), filepath.Join(pkgDir, f))
	}
	tmp := out + ".tmp" + strconv.Itoa(os.Getpid())
	cmd := exec.CommandContext(t.Context(), node, filepath.Join(pkgDir, build[0]), tmp)
	cmd.Dir = pkgDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv.NPMBundle: node %s: %v\n%s", build[0], err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatalf("testenv.NPMBundle: %v", err)
	}
	return out
}

// nodeTools finds node and npm, and checks node's version.
func nodeTools(t testing.TB) (node, npm string) {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("testenv.NPMBundle: "+format+"; CI must install them (make node)", args...)
		}
		t.Skipf("testenv.NPMBundle: "+format+" (make node installs Debian's nodejs and npm)", args...)
	}
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if errNode != nil || errNPM != nil {
		skip("node or npm not found on PATH")
	}
	v, err := exec.Command(node, "--version").Output()
	m := regexp.MustCompile(`^v(\d+)\.`).FindSubmatch(v)
	if err != nil || m == nil {
		skip("node --version: %q %v", v, err)
	}
	if major, _ := strconv.Atoi(string(m[1])); major < minNodeMajor {
		skip("node %s is older than %d", v, minNodeMajor)
	}
	return node, npm
}

// npmInstallFiles lists what npm ci reads: the manifest, the lockfile and
// every file of the local packages in subdirectories.
func npmInstallFiles(t testing.TB, dir string) []string {
	t.Helper()
	files := []string{"package.json", "package-lock.json"}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "node_modules" {
			return fs.SkipDir
		}
		if rel, _ := filepath.Rel(dir, p); !d.IsDir() && filepath.Dir(rel) != "." {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("testenv.NPMBundle: %v", err)
	}
	sort.Strings(files[2:])
	return files
}

func npmCacheRoot(t testing.TB) string {
	t.Helper()
	root := os.Getenv("LCW_NPM_CACHE")
	if root == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		root = filepath.Join(base, "lcw-auth-proxy", "npm")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatalf("testenv.NPMBundle: cache: %v", err)
	}
	return root
}

// npmInstall runs npm ci in a fresh directory and renames it into place,
// so a cancelled or concurrent install never leaves a half-filled one.
func npmInstall(t testing.TB, npm, dir string, files []string, root, pkgDir string) {
	t.Helper()
	tmp, err := os.MkdirTemp(root, filepath.Base(pkgDir)+".tmp-")
	if err != nil {
		t.Fatalf("testenv.NPMBundle: %v", err)
	}
	defer os.RemoveAll(tmp) // gone after the rename; cleans up after a failure
	for _, f := range files {
		copyFile(t, filepath.Join(dir, f), filepath.Join(tmp, f))
	}
	// --ignore-scripts: nothing the build needs runs install scripts
	// (esbuild's binary comes as an optional dependency).
	cmd := exec.CommandContext(t.Context(), npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	t.Logf("testenv.NPMBundle: npm ci in %s (once per lockfile)", pkgDir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv.NPMBundle: npm ci: %v\n%s", err, b)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".installed"), nil, 0o644); err != nil {
		t.Fatalf("testenv.NPMBundle: %v", err)
	}
	if err := os.Rename(tmp, pkgDir); err != nil {
		// Another test binary finished the same install first.
		if _, errDone := os.Stat(filepath.Join(pkgDir, ".installed")); errDone != nil {
			t.Fatalf("testenv.NPMBundle: %v", err)
		}
	}
}

// hashFiles is a short hash of the names and contents of files in dir.
func hashFiles(t testing.TB, dir string, files []string) string {
	t.Helper()
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("testenv.NPMBundle: %v", err)
		}
		io.WriteString(h, f+"\x00"+strconv.Itoa(len(b))+"\x00")
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(to), 0o755)
	}
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		t.Fatalf("testenv.NPMBundle: copy %s: %v", from, err)
	}
}
