// Package npmbundle installs npm packages pinned by a lockfile into a cache
// outside the repository and bundles them for the browser: Microsoft's chat
// code for the widget tests. It serves testenv.NPMBundle and make test's
// setup (./prepare), which installs beside the other downloads so the
// tests find the cache filled.
package npmbundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
)

// minNodeMajor is the oldest Node.js the npm build tools run on (esbuild
// needs 18).
const minNodeMajor = 18

// ErrNoNode means node (18 or later) or npm is missing: the caller decides
// whether that skips or fails.
var ErrNoNode = errors.New("node 18 or later and npm are needed")

// Tools finds node and npm and checks node's version.
func Tools() (node, npm string, err error) {
	node, errNode := exec.LookPath("node")
	npm, errNPM := exec.LookPath("npm")
	if errNode != nil || errNPM != nil {
		return "", "", fmt.Errorf("%w: node or npm not found on PATH", ErrNoNode)
	}
	v, err := exec.Command(node, "--version").Output()
	m := regexp.MustCompile(`^v(\d+)\.`).FindSubmatch(v)
	if err != nil || m == nil {
		return "", "", fmt.Errorf("%w: node --version: %q %v", ErrNoNode, v, err)
	}
	if major, _ := strconv.Atoi(string(m[1])); major < minNodeMajor {
		return "", "", fmt.Errorf("%w: node %s is older than %d", ErrNoNode, v, minNodeMajor)
	}
	return node, npm, nil
}

// Build returns the path of a browser bundle built from the npm packages
// pinned in dir. dir holds package.json and package-lock.json (and, in
// subdirectories, local packages they name with file:), which `npm ci`
// installs exactly as locked; build names the build script in dir (run as
// `node SCRIPT OUTFILE`) and the other files in dir it reads.
//
// Packages are installed once into a cache outside the repository, keyed by
// the content of the install files: $LCW_NPM_CACHE, else
// $XDG_CACHE_HOME/lcw-auth-proxy/npm (~/.cache/…). The bundle is rebuilt
// there whenever the build files change. logf hears of the slow step, the
// install. Concurrent calls, in one process or several, are safe: each
// writes into a fresh name and renames it into place.
func Build(ctx context.Context, dir string, logf func(string, ...any), build ...string) (string, error) {
	node, npm, err := Tools()
	if err != nil {
		return "", err
	}
	installFiles, err := installFiles(dir)
	if err != nil {
		return "", err
	}
	root, err := cacheRoot()
	if err != nil {
		return "", err
	}
	sum, err := hashFiles(dir, installFiles)
	if err != nil {
		return "", err
	}
	pkgDir := filepath.Join(root, sum)
	if _, err := os.Stat(filepath.Join(pkgDir, ".installed")); err != nil {
		logf("npm ci in %s (once per lockfile)", pkgDir)
		if err := install(ctx, npm, dir, installFiles, root, pkgDir); err != nil {
			return "", err
		}
	}
	// The build files sit beside node_modules, where the script expects
	// them; the bundle's name carries their hash.
	sum, err = hashFiles(dir, build)
	if err != nil {
		return "", err
	}
	out := filepath.Join(pkgDir, "bundle-"+sum+".js")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	for _, f := range build {
		if err := copyFile(filepath.Join(dir, f), filepath.Join(pkgDir, f)); err != nil {
			return "", err
		}
	}
	tmp, err := os.CreateTemp(pkgDir, "bundle-*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // gone after the rename; cleans up after a failure
	cmd := exec.CommandContext(ctx, node, filepath.Join(pkgDir, build[0]), tmp.Name())
	cmd.Dir = pkgDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("node %s: %w\n%s", build[0], err, b)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

// installFiles lists what npm ci reads: the manifest, the lockfile and
// every file of the local packages in subdirectories.
func installFiles(dir string) ([]string, error) {
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
		return nil, fmt.Errorf("list the install files of %s: %w", dir, err)
	}
	sort.Strings(files[2:])
	return files, nil
}

func cacheRoot() (string, error) {
	root := os.Getenv("LCW_NPM_CACHE")
	if root == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		root = filepath.Join(base, "lcw-auth-proxy", "npm")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("npm cache: %w", err)
	}
	return root, nil
}

// install runs npm ci in a fresh directory and renames it into place, so
// a cancelled or concurrent install never leaves a half-filled one.
func install(ctx context.Context, npm, dir string, files []string, root, pkgDir string) error {
	tmp, err := os.MkdirTemp(root, filepath.Base(pkgDir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone after the rename; cleans up after a failure
	for _, f := range files {
		if err := copyFile(filepath.Join(dir, f), filepath.Join(tmp, f)); err != nil {
			return err
		}
	}
	// --ignore-scripts: nothing the build needs runs install scripts
	// (esbuild's binary comes as an optional dependency).
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci: %w\n%s", err, b)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".installed"), nil, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, pkgDir); err != nil {
		// Another process finished the same install first.
		if _, errDone := os.Stat(filepath.Join(pkgDir, ".installed")); errDone != nil {
			return err
		}
	}
	return nil
}

// hashFiles is a short hash of the names and contents of files in dir.
func hashFiles(dir string, files []string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return "", err
		}
		io.WriteString(h, f+"\x00"+strconv.Itoa(len(b))+"\x00")
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(to), 0o755)
	}
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return nil
}
