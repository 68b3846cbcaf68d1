package ca_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
)

// A plane rotating its root (re-key) is killed (SIGKILL) before and after
// it stores each phase: the start, the switch, the retirement. The next
// start resumes from what was stored and completes the rotation, and
// nothing is lost: the new root it ends with is the one the killed
// process stored (when it had stored one), every leaf the killed process
// issued verifies with the bundle as long as it lives, and the files stay
// one consistent generation.
func TestRotationSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	for _, step := range []string{
		"started save", "started publish", "switched save", "switched publish", "retired save", "retired publish",
	} {
		t.Run("killed before "+step, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "ca")
			leafPEM := killRotationAt(t, dir, step)
			leaf, err := pemutil.ParseCerts(leafPEM)
			require.NoError(t, err)

			stored, err := ca.StoredStatus(context.Background(), crashOpts(dir), ca.FileStore{Dir: dir})
			require.NoError(t, err, "what the killed process left loads")
			t.Logf("killed before %q: stored phase %s, generation %d", step, stored.Rotation.Phase, stored.Rotation.Generation)

			c, err := ca.New(crashOpts(dir), nil, nil)
			require.NoError(t, err)
			if err := verifies(leaf[0], c.Roots()); err != nil {
				// Only a leaf that has expired may fail: its root retires after it.
				require.False(t, time.Now().Before(leaf[0].NotAfter), "a live leaf of the killed process does not verify after the restart: %v", err)
			}
			want := ""
			switch stored.Rotation.Phase {
			case ca.PhaseIdle:
				if stored.Rotation.Generation == 0 {
					// Killed before the start was stored: the rotation
					// never happened (Rotate did not return), so run it.
					require.NoError(t, c.Rotate(context.Background(), ca.RotateRekey))
				}
			case ca.PhasePropagating:
				want = stored.Next.Fingerprint
			case ca.PhaseRetiring:
				want = stored.Signer.Fingerprint
			}
			runCA(t, c)
			final := waitStatus(t, c, "the rotation to complete", func(st ca.Status) bool {
				return st.Rotation.Phase == ca.PhaseIdle && st.Rotation.Generation == 3
			})
			if want != "" {
				assert.Equal(t, want, final.Signer.Fingerprint, "the root the killed process stored is the one that signs")
			}
			if stored.Rotation.Phase == ca.PhaseIdle && stored.Rotation.Generation == 3 {
				assert.Equal(t, stored.Signer.Fingerprint, final.Signer.Fingerprint)
			}
			assert.Len(t, final.Roots, 1)
			assertGeneration(t, dir, ca.CACertFile, ca.CAKeyFile, ca.RootCertFile, ca.RotationFile)
		})
	}
}

// crashOpts: a re-key's root propagates for a second, leaves live three
// seconds, the old root retires after them.
func crashOpts(dir string) ca.Options { return fastRotation(dir, time.Second, 3*time.Second) }

// killRotationAt runs TestCARotationCrashHelper in a child process that
// rotates the root in dir, waits until it stops before step, and kills
// it. It returns a leaf the child issued just before.
func killRotationAt(t *testing.T, dir, step string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound for failure only
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCARotationCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CA_ROTATION_DIR="+dir, "CA_ROTATION_AT="+step)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	stopped := false
	var leaf []byte
	for sc.Scan() {
		line := sc.Text()
		if line == "stopped before "+step {
			stopped = true
			break
		}
		if len(line) > 0 {
			leaf = append(leaf, line+"\n"...)
		}
	}
	require.True(t, stopped, "the child never reached step %q", step)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	return leaf
}

// TestCARotationCrashHelper is the child process of
// TestRotationSurvivesSIGKILL: it creates a CA in dir, runs it, issues a
// leaf (printed) and rotates, and stops forever before the step.
func TestCARotationCrashHelper(t *testing.T) {
	dir := os.Getenv("CA_ROTATION_DIR")
	if dir == "" {
		t.Skip("the child process of TestRotationSurvivesSIGKILL")
	}
	at := os.Getenv("CA_ROTATION_AT")
	ca.RotationStepHook = func(step string) {
		if step == at {
			fmt.Println("stopped before " + step)
			time.Sleep(time.Hour) // until killed
		}
	}
	c, err := ca.New(crashOpts(dir), nil, nil)
	require.NoError(t, err)
	chain, err := c.Sign(csrPEM(t, ecKey(t), nil), []string{"spiffe://cluster.local/ns/a/sa/b"}, 0)
	require.NoError(t, err)
	fmt.Print(chain[0])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go c.Run(ctx)
	if err := c.Rotate(ctx, ca.RotateRekey); err != nil {
		fmt.Println("rotate:", err)
	}
	<-ctx.Done()
	fmt.Println("finished without reaching the step")
}
