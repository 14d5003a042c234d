package initcfg

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lcw-auth-proxy/lcw-auth-proxy/auth/keys"
)

func testOptions() Options {
	return Options{PublicURL: "http://127.0.0.1:4180", Upstream: "http://127.0.0.1:8080", Issuer: "http://127.0.0.1:5556", ClientID: "c"}
}

// A directory every user can write to, sticky bit or not, is refused with
// the way out; --force writes and warns. A group-writable one is noted.
func TestWriteJudgesTheDirectory(t *testing.T) {
	tests := []struct {
		name      string
		mode      fs.FileMode
		force     bool
		wantErr   []string // empty: written
		wantNotes []string
	}{
		{"world-writable", 0o777, false, []string{"writable by every user (mode 0777)", "chmod o-w ", "--force"}, nil},
		{"world-writable, sticky like /tmp", 0o777 | fs.ModeSticky, false, []string{"writable by every user", "sticky", "they can create them first", "chmod o-w "}, nil},
		{"writable by others without read", 0o703, false, []string{"writable by every user (mode 0703)"}, nil},
		{"world-writable with --force", 0o777, true, nil, []string{"written although", "writable by every user (mode 0777)", "(--force)"}},
		{"sticky with --force", 0o777 | fs.ModeSticky, true, nil, []string{"written although", "sticky"}},
		{"group-writable", 0o770, false, nil, []string{"writable by its group (mode 0770)", "chmod g-w"}},
		{"listable by others", 0o755, false, nil, []string{"other users can list it"}},
		{"the proxy's user only", 0o700, false, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			res, err := Write(dir, testOptions(), tc.force)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("written, want a refusal")
				}
				for _, w := range append(tc.wantErr, dir) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if entries, _ := os.ReadDir(dir); len(entries) > 0 {
					t.Errorf("refused, but %s holds %v", dir, entries)
				}
				return
			}
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			notes := strings.Join(res.DirNotes, "\n")
			for _, w := range tc.wantNotes {
				if !strings.Contains(notes, w) {
					t.Errorf("notes %q lack %q", notes, w)
				}
			}
			if tc.wantNotes == nil && notes != "" {
				t.Errorf("notes %q, want none", notes)
			}
			var summary strings.Builder
			res.Summary(&summary, "cfg")
			for _, n := range res.DirNotes {
				if !strings.Contains(summary.String(), "Note: "+n+"\n") {
					t.Errorf("the summary does not print the note %q", n)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, CookieSecretFile)); err != nil {
				t.Error(err)
			}
		})
	}
}

// A link planted where a secret goes is not followed: without --force the
// name is taken, with --force it is refused as not init's file, and the
// link's target (present or not) stays as it was.
func TestWriteNeverThroughALink(t *testing.T) {
	for _, name := range []string{CookieSecretFile, keys.PrivateKeyFile, keys.PublicKeyFile, ConfigFile} {
		for _, force := range []bool{false, true} {
			for _, dangling := range []bool{false, true} {
				dir := filepath.Join(t.TempDir(), "out")
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				target := filepath.Join(t.TempDir(), "victim")
				if !dangling {
					if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
				_, err := Write(dir, testOptions(), force)
				want := "already holds " + name
				if force {
					want = name + " is a symbolic link, not a file init wrote"
				}
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s force=%v dangling=%v: %v, want an error containing %q", name, force, dangling, err, want)
				}
				got, err := os.ReadFile(target)
				switch {
				case dangling && !os.IsNotExist(err):
					t.Errorf("%s force=%v: the link's missing target was created", name, force)
				case !dangling && string(got) != "precious":
					t.Errorf("%s force=%v: the link's target now holds %q", name, force, got)
				}
			}
		}
	}
}

// writeFile itself never opens through a link, whether its target exists
// or not: the check before it cannot be the only guard, as a link can be
// planted between the check and the write.
func TestWriteFileRefusesALink(t *testing.T) {
	dir := t.TempDir()
	existing, missing := filepath.Join(dir, "existing"), filepath.Join(dir, "missing")
	if err := os.WriteFile(existing, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{existing, missing} {
		link := filepath.Join(dir, "link-to-"+filepath.Base(target))
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := writeFile(link, []byte("secret"), secretMode); err == nil {
			t.Errorf("writeFile through a link to %s succeeded", target)
		}
	}
	if got, _ := os.ReadFile(existing); string(got) != "precious" {
		t.Errorf("the link's target now holds %q", got)
	}
	if _, err := os.Lstat(missing); !os.IsNotExist(err) {
		t.Errorf("the link's missing target was created: %v", err)
	}
}
