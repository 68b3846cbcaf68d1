package kube_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/bootgraph/bootgraph/internal/kubetest"
)

// env is the package's API server, started once by TestMain; nil when the
// binaries are missing outside CI (kubetest.Need then skips).
var env *kubetest.Env

func TestMain(m *testing.M) {
	if os.Getenv(crashHelperEnv) != "" {
		// A crash-test child (TestSecretRotationCrashHelper): it uses its
		// parent's API server, and is killed, so it starts none of its own
		// (a killed child would leave etcd and kube-apiserver running).
		os.Exit(m.Run())
	}
	code := kubetest.Main(m, &env)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
