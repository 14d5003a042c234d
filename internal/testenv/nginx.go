package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Nginx is a real nginx (Debian's nginx-light: it has auth_request and
// sub_filter) on a loopback port, owned by one test.
type Nginx struct {
	Addr string // 127.0.0.1:port
	URL  string // http://127.0.0.1:port
	dir  string
}

// NginxListener reserves the port an nginx will listen on, so a test can
// put its URL into other servers' configuration (the proxy's public_url)
// before nginx starts. The caller passes it to StartNginx.
func NginxListener(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
}

// StartNginx runs nginx in the foreground with http contains the body of
// its http {} block, in which {listen} is replaced by addr. Every path
// nginx writes is inside a temp dir. It skips without nginx, except under
// CI=true.
func StartNginx(t testing.TB, addr, http string) *Nginx {
	t.Helper()
	bin := Tool(t, "nginx ($NGINX, PATH, /usr/sbin/nginx)", "Debian's nginx-light; make services installs it",
		os.Getenv("NGINX"), "nginx", "/usr/sbin/nginx")
	dir, err := os.MkdirTemp("", "lcw-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// A root master runs its worker as nobody, which must reach the temp dirs.
	_ = os.Chmod(dir, 0o755)
	n := &Nginx{Addr: addr, URL: "http://" + addr, dir: dir}
	version, _ := exec.Command(bin, "-V").CombinedOutput()
	temps := fmt.Sprintf("client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy;", dir)
	for _, m := range []string{"fastcgi", "uwsgi", "scgi"} {
		if !strings.Contains(string(version), "--without-http_"+m+"_module") {
			temps += fmt.Sprintf(" %s_temp_path %s/%s;", m, dir, m)
		}
	}
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
  access_log %[1]s/access.log;
  %[2]s
%[3]s
}
`, dir, temps, strings.ReplaceAll(http, "{listen}", addr))
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-q", "-p", dir, "-e", dir+"/error.log", "-c", path).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("testenv: nginx rejected its config: %v\n%s\n%s\n%s", err, out, log, conf)
	}
	cmd := exec.Command(bin, "-p", dir, "-e", dir+"/error.log", "-c", path)
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start nginx: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGTERM: the master stops its worker first (a killed master
		// would leave the worker running).
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error.log:\n%s", log)
		}
	})
	if err := waitListening(n.URL, 10*time.Second, exited); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("testenv: nginx on %s did not come up: %v\n%s", addr, err, log)
	}
	return n
}
