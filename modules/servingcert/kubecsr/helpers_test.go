package kubecsr_test

import (
	"crypto/x509"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bootgraph/bootgraph/internal/kubetest"
)

// kubeEnv is the API server of the provider's tests, started once for the
// package by TestMain; nil (those tests skip) without the binaries.
var kubeEnv *kubetest.Env

// TestMain runs the tests against one API server, stops it, and then checks
// for leaked goroutines as goleak.VerifyTestMain does.
func TestMain(m *testing.M) {
	code := kubetest.Main(m, &kubeEnv)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: Errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

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

func pool(t *testing.T, rootsPEM []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	require.True(t, p.AppendCertsFromPEM(rootsPEM), "no certificate in roots PEM")
	return p
}
