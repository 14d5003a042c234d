// Package docs_test holds the house rule of ARCHITECTURE.md, beside it:
// every package sits on one floor, and its code imports only packages of
// its own floor or of floors below it.
package docs_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/lcw-auth-proxy/lcw-auth-proxy/"

// floors maps folders (a folder stands for everything under it) to their
// floor, from the ground up. The longest matching folder decides. A new
// folder must be placed here before it can hold code.
var floors = map[string]int{
	"config":       0,
	"deploy":       0,
	"internal":     1, // ground-floor helpers every layer may use
	"auth":         1,
	"auth/contact": 2, // wired by cmd/internal/app; login declares what it calls
	"proxy":        3,
	"cmd/internal": 4, // wiring and command features
	"cmd":          5, // the binaries
	"bench":        5,
}

var floorNames = []string{"config, deploy", "internal", "auth", "proxy", "cmd/internal", "cmd, bench"}

// testOnly are ground-floor packages that serve tests and the demo, never
// the proxy: only the folders listed may import them outside tests.
var testOnly = map[string][]string{
	"internal/testenv":   nil,
	"internal/devidp":    {"internal/testenv", "cmd/lcw-demo"},
	"internal/npmbundle": {"internal/testenv", "internal/npmbundle/prepare"},
}

func mayImport(dir, target string) bool {
	allowed, ok := testOnly[target]
	if !ok {
		return true
	}
	for _, a := range allowed {
		if dir == a {
			return true
		}
	}
	return false
}

func floorOf(dir string) (int, bool) {
	best, floor := -1, 0
	for f, n := range floors {
		if (dir == f || strings.HasPrefix(dir, f+"/")) && len(f) > best {
			best, floor = len(f), n
		}
	}
	return floor, best >= 0
}

// TestImportsRunDownTheFloors reads the imports of every non-test Go file
// (tests may reach up: they exercise the floor above) and fails on each
// import that climbs.
func TestImportsRunDownTheFloors(t *testing.T) {
	t.Chdir("..") // the module root: the paths below are the floors' folders
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		from, ok := floorOf(dir)
		if !ok {
			t.Errorf("%s: folder %s is on no floor; place it in floors (docs/layout_test.go) and docs/ARCHITECTURE.md", path, dir)
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			target := strings.TrimPrefix(p, module)
			to, ok := floorOf(target)
			if !ok {
				t.Errorf("%s imports %s, which is on no floor", path, target)
				continue
			}
			if !mayImport(dir, target) {
				t.Errorf("%s imports %s, which serves tests and the demo only", path, target)
			}
			if to > from {
				t.Errorf("%s (floor %d: %s) imports %s (floor %d: %s): imports must run down the house",
					path, from, floorNames[from], target, to, floorNames[to])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read only %d Go files; is the test running at the module root?", files)
	}
}

// TestFloorsNameExistingFolders keeps the table honest: a floor entry for a
// folder that no longer exists is a stale map.
func TestFloorsNameExistingFolders(t *testing.T) {
	t.Chdir("..")
	var folders []string
	for f := range floors {
		folders = append(folders, f)
	}
	for f := range testOnly {
		folders = append(folders, f)
	}
	for _, f := range folders {
		if st, err := os.Stat(f); err != nil || !st.IsDir() {
			t.Errorf("floors names %s, which is not a folder", f)
		}
	}
}
