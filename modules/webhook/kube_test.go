package webhook_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/bootgraph/bootgraph/internal/kubetest"
)

// kenv is the package's API server, started once by TestMain for the
// caBundle patcher's tests; nil when the binaries are missing outside CI
// (kubetest.Need then skips).
var kenv *kubetest.Env

// TestMain runs the tests against one API server, then checks, once it has
// stopped, that no test leaked a goroutine (what goleak.VerifyTestMain does).
func TestMain(m *testing.M) {
	code := kubetest.Main(m, &kenv)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: errors on successful test run:", err)
			code = 1
		}
	}
	os.Exit(code)
}
