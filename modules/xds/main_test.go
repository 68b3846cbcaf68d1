package xds_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain removes the test plane binary and fails the run when a test
// leaves a goroutine behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if testplane.dir != "" {
		os.RemoveAll(testplane.dir)
	}
	if code == 0 {
		// gRPC's xDS client never closes the file watcher of its
		// bootstrap's TLS credentials (the pool that holds them lives as
		// long as the process).
		if err := goleak.Find(goleak.IgnoreTopFunction("google.golang.org/grpc/credentials/tls/certprovider/pemfile.(*watcher).run")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
