package kube_test

import (
	"os"
	"testing"

	"github.com/bootgraph/bootgraph/internal/kubetest"
)

// env is the package's API server, started once by TestMain; nil when the
// binaries are missing outside CI (kubetest.Need then skips).
var env *kubetest.Env

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m, &env)) }
