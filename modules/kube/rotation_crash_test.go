package kube_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// A plane re-keying its root in istio-ca-secret is killed (SIGKILL) before
// and after it stores each phase; the next start resumes from the Secret
// and completes the rotation with the root the killed process stored.
func TestSecretRotationSurvivesSIGKILL(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	kubeconfig := e.Kubeconfig(t)
	for _, step := range []string{"started publish", "switched save", "switched publish", "retired save", "retired publish"} {
		t.Run("killed before "+step, func(t *testing.T) {
			t.Parallel()
			ns := e.Namespace(t, "rotation-crash")
			killSecretRotationAt(t, kubeconfig, ns, step)
			store := kube.NewSecretStore(e.API(t), ns, kube.Options{}, nil)
			stored, err := ca.StoredStatus(context.Background(), crashOptions(), store)
			require.NoError(t, err)
			want := stored.Signer.Fingerprint
			if stored.Next != nil {
				want = stored.Next.Fingerprint
			}
			c, err := ca.NewFromStore(crashOptions(), store, nil, nil)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); c.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			deadline := time.NewTimer(2 * time.Minute) // a bound for failure only
			defer deadline.Stop()
			for {
				changed := c.Changed()
				st := c.Status()
				if st.Rotation.Phase == ca.PhaseIdle && st.Rotation.Generation == 3 {
					assert.Equal(t, want, st.Signer.Fingerprint, "the root the killed process stored signs")
					assert.Len(t, st.Roots, 1)
					return
				}
				select {
				case <-changed:
				case <-deadline.C:
					t.Fatalf("the rotation never completed: %+v", st)
				}
			}
		})
	}
}

// crashHelperEnv names the parent's kubeconfig for the crash-test child;
// TestMain starts no API server when it is set.
const crashHelperEnv = "ROTATION_KUBECONFIG"

func crashOptions() ca.Options {
	off := false
	d := func(d time.Duration) component.Duration { return component.Duration(d) }
	return ca.Options{DefaultCertTTL: d(2 * time.Second), MaxCertTTL: d(2 * time.Second), ReloadInterval: d(100 * time.Millisecond),
		Rotation: ca.RotationOptions{Auto: &off, PropagationDelay: d(time.Second)}}
}

func killSecretRotationAt(t *testing.T, kubeconfig, ns, step string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound for failure only
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSecretRotationCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+kubeconfig, "ROTATION_NAMESPACE="+ns, "ROTATION_AT="+step)
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

// TestSecretRotationCrashHelper is the child of
// TestSecretRotationSurvivesSIGKILL.
func TestSecretRotationCrashHelper(t *testing.T) {
	kubeconfig := os.Getenv(crashHelperEnv)
	if kubeconfig == "" {
		t.Skip("the child process of TestSecretRotationSurvivesSIGKILL")
	}
	at := os.Getenv("ROTATION_AT")
	ca.RotationStepHook = func(step string) {
		if step == at {
			fmt.Println("stopped before " + step)
			time.Sleep(time.Hour) // until killed
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	client, err := kubeapi.New(cfg)
	require.NoError(t, err)
	c, err := ca.NewFromStore(crashOptions(), kube.NewSecretStore(client, os.Getenv("ROTATION_NAMESPACE"), kube.Options{}, nil), nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go c.Run(ctx)
	if err := c.Rotate(ctx, ca.RotateRekey); err != nil {
		fmt.Println("rotate:", err)
	}
	<-ctx.Done()
	fmt.Println("finished without reaching the step")
}
