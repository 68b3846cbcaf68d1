package dns_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/testutil"
	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
)

// lookTool finds a command-line client; CI installs them, elsewhere a
// missing one skips the test.
func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found (CI installs it: apt-get install -y %s): %v", name, pkg, err)
		}
		t.Skipf("%s not found; install it with: apt-get install -y %s", name, pkg)
	}
	return path
}

// runTool runs a client and returns its output.
func runTool(t *testing.T, path string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	require.NoError(t, err, "%s %v:\n%s", path, args, out)
	return string(out)
}

var (
	ownA      = regexp.MustCompile(`(?m)^istiod\.istio-system\.svc\.\s+30\s+IN\s+A\s+127\.0\.0\.1$`)
	ownAAAA   = regexp.MustCompile(`(?m)^istiod\.istio-system\.svc\.\s+30\s+IN\s+AAAA\s+::1$`)
	nxdomain  = regexp.MustCompile(`status: NXDOMAIN`)
	noerror   = regexp.MustCompile(`status: NOERROR`)
	authFlags = regexp.MustCompile(`(?i)flags: qr aa`)
)

// TestKdig queries the server with Knot's kdig over TLS, verifying the
// certificate against the CA file and the name localhost.
func TestKdig(t *testing.T) {
	t.Parallel()
	kdig := lookTool(t, "kdig", "knot-dnsutils")
	// The plane's own serving certificate (kdig 3.2 refuses one with an
	// empty subject: modules/ca names serving certificates for that).
	c := testutil.NewCA(t)
	rootFile := t.TempDir() + "/root-cert.pem"
	require.NoError(t, os.WriteFile(rootFile, c.RootPEM(), 0o600))
	s, _ := startServer(t, dnsmod.Options{}, testutil.NewBundle(t, c), nil)
	host, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	base := []string{"@" + host, "-p", port, "+tls-ca=" + rootFile, "+tls-hostname=localhost", "+timeout=10", "+retry=0"}

	out := runTool(t, kdig, append(base, "istiod.istio-system.svc", "A")...)
	assert.Regexp(t, ownA, out)
	assert.Regexp(t, noerror, out)
	assert.Regexp(t, authFlags, out)
	assert.Contains(t, out, "TLS session (TLS1.3)")
	assert.Contains(t, out, "Received 468 B", "kdig pads its queries over TLS, so the answer is padded (RFC 8467)")

	out = runTool(t, kdig, append(base, "istiod.istio-system.svc", "AAAA")...)
	assert.Regexp(t, ownAAAA, out)

	out = runTool(t, kdig, append(base, "nope.istio-system.svc", "A")...)
	assert.Regexp(t, nxdomain, out)
}

// TestDig queries the server with BIND 9.18's dig over TLS, verifying the
// plane's own serving certificate against its CA.
func TestDig(t *testing.T) {
	t.Parallel()
	dig := lookTool(t, "dig", "bind9-dnsutils")
	c := testutil.NewCA(t)
	rootFile := t.TempDir() + "/root-cert.pem"
	require.NoError(t, os.WriteFile(rootFile, c.RootPEM(), 0o600))
	s, _ := startServer(t, dnsmod.Options{}, testutil.NewBundle(t, c), nil)
	host, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	base := []string{"@" + host, "-p", port, "+tls", "+tls-ca=" + rootFile, "+tls-hostname=localhost", "+time=10", "+tries=1"}

	out := runTool(t, dig, append(base, "istiod.istio-system.svc", "A")...)
	assert.Regexp(t, ownA, out)
	assert.Regexp(t, noerror, out)
	assert.Regexp(t, authFlags, out)

	out = runTool(t, dig, append(base, "IStioD.istio-system.svc", "AAAA", "+short")...)
	assert.Equal(t, "::1\n", out)

	out = runTool(t, dig, append(base, "nope.istio-system.svc", "A")...)
	assert.Regexp(t, nxdomain, out)

	// A CA file that does not hold the server's root fails verification.
	otherRoot := t.TempDir() + "/other.pem"
	require.NoError(t, os.WriteFile(otherRoot, testutil.NewCA(t).RootPEM(), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bad, err := exec.CommandContext(ctx, dig, "@"+host, "-p", port, "+tls", "+tls-ca="+otherRoot, "+tls-hostname=localhost",
		"+time=5", "+tries=1", "istiod.istio-system.svc", "A").CombinedOutput()
	assert.NotRegexp(t, ownA, string(bad), "dig verified the certificate (exit: %v)", err)
}
