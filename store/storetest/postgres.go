// Package storetest gives tests a real, throwaway PostgreSQL server: one per
// test binary, made with initdb in a temporary folder on first use, started
// on a free loopback port, and stopped and removed when the tests end (call
// Main from TestMain). Each test gets a schema of its own.
//
// Without PostgreSQL installed, Postgres skips the test with a loud message;
// with QSP_REQUIRE_POSTGRES=1 (set by .ci/run) it fails it instead.
// QSP_TEST_DATABASE_URL points the tests at an existing server instead.
// QSP_PG_BIN names the folder of initdb and postgres when they are neither
// on PATH nor in Debian's /usr/lib/postgresql/<version>/bin.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres returns the URL of the test binary's PostgreSQL server and a
// schema name no other test uses; the schema is dropped when the test ends.
func Postgres(t testing.TB) (dbURL, schema string) {
	t.Helper()
	dbURL, err := serverURL()
	if err != nil {
		if os.Getenv("QSP_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required (QSP_REQUIRE_POSTGRES=1) but could not be started: %v", err)
		}
		t.Skipf("\n\n*** SKIPPED: no PostgreSQL for this test: %v\n*** Install Debian's postgresql package (apt-get install -y postgresql) to run it.\n\n", err)
	}
	schema = fmt.Sprintf("t%d_%s", seq.Add(1), randomHex(4))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	return dbURL, schema
}

// Main runs the tests, then stops and removes the server if one was
// started: func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if srv != nil {
		if err := srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "storetest:", err)
		}
		srv = nil
	}
	return code
}

var (
	seq     atomic.Int64
	mu      sync.Mutex
	srv     *server
	srvErr  error
	started bool
)

func serverURL() (string, error) {
	if u := os.Getenv("QSP_TEST_DATABASE_URL"); u != "" {
		return u, nil
	}
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		srv, srvErr = startServer()
	}
	if srvErr != nil {
		return "", srvErr
	}
	return srv.url, nil
}

type server struct {
	dir  string
	cmd  *exec.Cmd
	done chan error
	url  string
}

func startServer() (*server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "qsp-pg-")
	if err != nil {
		return nil, err
	}
	// PostgreSQL refuses to run as root: as root, run it as the postgres
	// user (Debian's package creates it) in a folder that user owns.
	var as *account
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs the user postgres to run the server as: %w", err)
		}
		as = &account{}
		as.uid, _ = strconv.Atoi(u.Uid)
		as.gid, _ = strconv.Atoi(u.Gid)
		if err := os.Chown(dir, as.uid, as.gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	password := randomHex(16)
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if as != nil {
		_ = os.Chown(pwfile, as.uid, as.gid)
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--pwfile", pwfile,
		"--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = procAttr(as, false)
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 3 { // the free port may be taken before the server binds it
		s, err := runServer(bin, dir, data, password, as)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// account is the user the server runs as (nil: this process's).
type account struct{ uid, gid int }

func runServer(bin, dir, data, password string, as *account) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "max_connections=300", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = procAttr(as, true)
	s := &server{dir: dir, cmd: cmd, done: make(chan error, 1),
		url: (&url.URL{Scheme: "postgres", User: url.UserPassword("postgres", password), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Path: "/postgres", RawQuery: "sslmode=disable"}).String()}
	started := make(chan error, 1)
	go func() {
		// The server gets SIGQUIT when the thread that started it ends
		// (Pdeathsig): keep that thread for this goroutine, which lives as
		// long as the server.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.url)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return s, nil
		}
		select {
		case werr := <-s.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited (%v):\n%s", werr, tail(string(log), 2000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-s.done
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres did not accept connections within 30s (%v):\n%s", err, tail(string(log), 2000))
		}
	}
}

// stop shuts the server down (fast shutdown: open sessions are ended) and
// removes its folder.
func (s *server) stop() error {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	return os.RemoveAll(s.dir)
}

// findBin returns the folder of PostgreSQL's server programs.
func findBin() (string, error) {
	has := func(dir string) bool {
		for _, p := range []string{"initdb", "postgres"} {
			if st, err := os.Stat(filepath.Join(dir, p)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("QSP_PG_BIN"); d != "" {
		if has(d) {
			return d, nil
		}
		return "", fmt.Errorf("QSP_PG_BIN=%s has no initdb and postgres", d)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", errors.New("initdb and postgres were not found on PATH, in /usr/lib/postgresql/*/bin or in QSP_PG_BIN")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
