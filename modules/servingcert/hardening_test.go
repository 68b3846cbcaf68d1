package servingcert_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

func TestOptionsValidateDNSNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 63)
	tooLong := strings.Join([]string{long, long, long, long}, ".") // 255 characters
	tests := []struct {
		name string
		want string // "" valid
	}{
		{"istiod.example.com", ""},
		{"istiod-remote.istio-system.svc", ""},
		{"a", ""},
		{"10.0.0.1", ""},
		{"::1", ""},
		{"2001:db8::1", ""},
		{"*.example.com", ""},
		{"*.mesh.example.com", ""},
		{"xn--bcher-kva.example", ""},
		{long + ".example", ""},
		{" ", "must not be empty"},
		{"\t", "must not be empty"},
		{"Istiod.Example.com", `"Istiod.Example.com" is neither an IP address nor a DNS name: it has upper case; write it in lower case`},
		{"foo bar", `it has the character ' '`},
		{"foo_bar.example", `it has the character '_'`},
		{"bücher.example", `it has the character 'ü'`},
		{"localhost\n", `it has the character '\n'`},
		{"-foo.example", `label "-foo" starts or ends with '-'`},
		{"foo-.example", `label "foo-" starts or ends with '-'`},
		{"foo..example", `it has an empty label`},
		{".example", `it has an empty label`},
		{"istiod.example.com.", `ends in a dot: write it without the trailing dot`},
		{"*", `it has the character '*'`},
		{"*.com", `is a wildcard for a whole top-level domain`},
		{"a.*.example.com", `it has the character '*'`},
		{"*foo.example.com", `it has the character '*'`},
		{"**.example.com", `it has the character '*'`},
		{"*.*.example.com", `it has the character '*'`},
		{"10.0.0.0/8", "is neither an IP address (which has no prefix length, zone or port) nor a DNS name"},
		{"fe80::1%eth0", "is neither an IP address (which has no prefix length, zone or port)"},
		{"example.com:443", "is neither an IP address (which has no prefix length, zone or port)"},
		{"[::1]", "is neither an IP address (which has no prefix length, zone or port)"},
		{"http://example.com", "is neither an IP address"},
		{long + "a.example", `has 64 characters, more than 63`},
		{tooLong, "255 characters, more than 253"},
	}
	for _, tt := range tests {
		o := servingcert.Options{DNSNames: []string{"ok.example", tt.name}}
		o.SetDefaults()
		err := o.Validate()
		if tt.want == "" {
			assert.NoError(t, err, "%q", tt.name)
			continue
		}
		if assert.Error(t, err, "%q", tt.name) {
			assert.True(t, strings.HasPrefix(err.Error(), "dnsNames[1]: "), "%q: the error is relative to the part: %v", tt.name, err)
			assert.Contains(t, err.Error(), tt.want, "%q", tt.name)
		}
	}

	// Every bad name is reported, each under its own index; a name given
	// twice is reported at its second place.
	o := servingcert.Options{DNSNames: []string{"a.example", "B.example", "a.example", "10.0.0.0/8"}}
	o.SetDefaults()
	err := o.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dnsNames[1]: ")
	assert.Contains(t, err.Error(), `dnsNames[2]: "a.example" is dnsNames[0] again`)
	assert.Contains(t, err.Error(), "dnsNames[3]: ")
	assert.NotContains(t, "\n"+err.Error(), "\ndnsNames[0]:", "dnsNames[0] is fine")
}

// The files provider reads its files bounded; the key must be private.
func TestFilesProviderReadsBounded(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	p := issue(t, c)
	tests := []struct {
		name  string
		which func(f files) string
		make  func(t *testing.T, path string)
		want  string
	}{
		{"key is a FIFO", keyOf, mkfifo, "a named pipe (FIFO)"},
		{"cert is a FIFO", certOf, mkfifo, "a named pipe (FIFO)"},
		{"client CA is a FIFO", caOf, mkfifo, "a named pipe (FIFO)"},
		{"cert is /dev/zero", certOf, linkTo("/dev/zero"), "a character device"},
		{"key is /dev/zero", keyOf, linkTo("/dev/zero"), "a character device"},
		{"client CA is 2 MiB", caOf, bigFile(2 << 20), "more than the 1 MiB limit"},
		{"cert is 1 MiB + 1", certOf, bigFile(1<<20 + 1), "1048577 bytes"},
		{"key is mode 0644", keyOf, chmod(0o644), "has mode 0644, so others may access it"},
		{"key is mode 0640", keyOf, chmod(0o640), "has mode 0640, so its group may access it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := writeFiles(t, p, c.RootPEM())
			path := tt.which(f)
			tt.make(t, path)
			done := make(chan error, 1)
			go func() {
				_, err := servingcert.NewFilesProvider(f.options(), zap.NewNop())
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("NewFilesProvider blocked on a file")
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func keyOf(f files) string  { return f.key }
func certOf(f files) string { return f.cert }
func caOf(f files) string   { return f.ca }

func mkfifo(t *testing.T, path string) {
	require.NoError(t, os.Remove(path))
	require.NoError(t, syscall.Mkfifo(path, 0o600))
}

func linkTo(target string) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		require.NoError(t, os.Remove(path))
		require.NoError(t, os.Symlink(target, path))
	}
}

func bigFile(size int) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		require.NoError(t, os.WriteFile(path, make([]byte, size), 0o600))
	}
}

func chmod(mode os.FileMode) func(*testing.T, string) {
	return func(t *testing.T, path string) { require.NoError(t, os.Chmod(path, mode)) }
}

// A reader looping over the export while it is rewritten never gets a key
// that does not match its chain: the pair changes as one.
func TestExportReaderNeverSeesAMismatchedPair(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	b := servingcert.NewBundle()
	first := issue(t, c)
	require.NoError(t, b.Set(first.chain, first.key, c.RootPEM()))
	dir := filepath.Join(t.TempDir(), "istio-dns")
	require.NoError(t, servingcert.Export(b, dir))

	const generations = 40
	pairs := make([]pair, generations)
	for i := range pairs {
		pairs[i] = issue(t, c)
	}
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		reads   atomic.Int64
		serials sync.Map // serials read
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				chain, key, roots, err := servingcert.ReadExport(dir)
				if err != nil {
					t.Errorf("read the export: %v", err)
					return
				}
				cert, err := tls.X509KeyPair(chain, key)
				if err != nil {
					t.Errorf("the exported key does not match the exported chain: %v", err)
					return
				}
				if string(roots) != string(c.RootPEM()) {
					t.Error("the exported roots changed")
					return
				}
				serials.Store(cert.Leaf.SerialNumber.String(), true)
				reads.Add(1)
			}
		}()
	}
	for _, p := range pairs {
		require.NoError(t, b.Set(p.chain, p.key, c.RootPEM()))
		require.NoError(t, servingcert.Export(b, dir))
	}
	stop.Store(true)
	wg.Wait()
	distinct := 0
	serials.Range(func(any, any) bool { distinct++; return true })
	t.Logf("%d reads saw %d of %d generations", reads.Load(), distinct, generations+1)
	assert.Greater(t, distinct, 1, "the readers saw the export change")
	assertGeneration(t, dir, servingcert.ExportKeyFile, servingcert.ExportChainFile, servingcert.ExportRootFile)
}

// The export is killed (SIGKILL) at every step of writing a new
// certificate: the directory then holds the old pair or the new one, and
// the key always matches the chain.
func TestExportSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	steps := []string{"write " + servingcert.ExportChainFile, "write " + servingcert.ExportRootFile,
		"write " + servingcert.ExportKeyFile, "sync", "link", "swap", "clean"}
	c := testutil.NewCA(t)
	for i, step := range steps {
		t.Run("killed before "+step, func(t *testing.T) {
			t.Parallel()
			b := servingcert.NewBundle()
			old := issue(t, c)
			require.NoError(t, b.Set(old.chain, old.key, c.RootPEM()))
			dir := filepath.Join(t.TempDir(), "istio-dns")
			require.NoError(t, servingcert.Export(b, dir))

			killExportAt(t, dir, step)

			chain, key, _, err := servingcert.ReadExport(dir)
			require.NoError(t, err)
			cert, err := tls.X509KeyPair(chain, key)
			require.NoError(t, err, "the key matches the chain after a kill before %q", step)
			if i <= 5 {
				assert.Equal(t, old.leaf.SerialNumber, cert.Leaf.SerialNumber, "before the swap: the old pair")
			} else {
				assert.NotEqual(t, old.leaf.SerialNumber, cert.Leaf.SerialNumber, "after the swap: the new pair")
			}
			// The next export leaves a clean directory.
			require.NoError(t, servingcert.Export(b, dir))
			assertGeneration(t, dir, servingcert.ExportKeyFile, servingcert.ExportChainFile, servingcert.ExportRootFile)
		})
	}
}

// killExportAt runs TestExportCrashHelper in a child process that exports
// a new certificate into dir, waits until it stops before step, and kills
// it. The child needs no API server: it is started without one.
func killExportAt(t *testing.T, dir, step string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound for failure only
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestExportCrashHelper$", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBEBUILDER_ASSETS=") && !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, "BOOTGRAPH_CACHE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "BOOTGRAPH_CACHE="+t.TempDir(), "EXPORT_CRASH_DIR="+dir, "EXPORT_CRASH_AT="+step)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	stopped := false
	for sc.Scan() {
		if sc.Text() == "stopped before "+step {
			stopped = true
			break
		}
	}
	require.True(t, stopped, "the child never reached step %q", step)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
}

// TestExportCrashHelper is the child process of TestExportSurvivesSIGKILL.
func TestExportCrashHelper(t *testing.T) {
	dir := os.Getenv("EXPORT_CRASH_DIR")
	if dir == "" {
		t.Skip("the child process of TestExportSurvivesSIGKILL")
	}
	at := os.Getenv("EXPORT_CRASH_AT")
	authority, err := ca.New(ca.Options{DataDir: filepath.Join(t.TempDir(), "ca")}, nil, nil)
	require.NoError(t, err)
	b := testutil.NewBundle(t, authority)
	pemutil.StepHook = func(step string) {
		if step == at {
			fmt.Println("stopped before " + step)
			time.Sleep(time.Hour) // until killed
		}
	}
	err = servingcert.Export(b, dir)
	fmt.Println("finished without reaching the step:", err)
}
