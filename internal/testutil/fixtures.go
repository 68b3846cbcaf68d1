package testutil

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// DefaultNames are the names of NewBundle's certificate when none are
// given: the plane's own name and loopback, as a local plane has.
var DefaultNames = []string{"istiod.istio-system.svc", "localhost", "127.0.0.1", "::1"}

// NewCA makes a self-signed CA (ECDSA P-256) in a temporary directory.
func NewCA(tb testing.TB) *ca.CA {
	tb.Helper()
	c, err := ca.New(ca.Options{DataDir: tb.TempDir()}, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// NewBundle returns a serving bundle holding a certificate that c signed
// for names (default DefaultNames), valid for an hour, with c's roots.
func NewBundle(tb testing.TB, c *ca.CA, names ...string) *servingcert.Bundle {
	tb.Helper()
	if len(names) == 0 {
		names = DefaultNames
	}
	chain, key, err := c.GenKeyCert(names, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	b := servingcert.NewBundle()
	if err := b.Set(chain, key, c.RootPEM()); err != nil {
		tb.Fatal(err)
	}
	return b
}

// FreeAddr returns a loopback address that was free a moment ago.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

// Tool finds a command-line client that a test drives (curl, kdig, ...).
// CI installs them (scripts/install-test-tools.sh), so there a missing one
// fails the test; elsewhere it skips with the install command.
func Tool(tb testing.TB, name, debianPackage string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s not found (CI installs it: apt-get install -y %s): %v", name, debianPackage, err)
		}
		tb.Skipf("%s not found; install it with: apt-get install -y %s", name, debianPackage)
	}
	return path
}
