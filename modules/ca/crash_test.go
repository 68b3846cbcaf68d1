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

// The first start is killed (SIGKILL) at every step of storing the new
// root: between writing ca-cert.pem and ca-key.pem, after both, before and
// after the swap, while the links are made. The next start always gets a
// usable, consistent root: a new one when the killed start had not swapped
// its root in (so no certificate can have been issued from it), else the
// killed start's own root; and nothing of the killed start is left over.
func TestFirstStartSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	steps := []string{
		"write " + ca.RootCertFile, "write " + ca.CACertFile, "write " + ca.CAKeyFile, "sync", "link", "swap",
		"publish " + ca.RootCertFile, "publish " + ca.CACertFile, "publish " + ca.CAKeyFile, "clean",
	}
	for i, step := range steps {
		swapped := i > 5
		t.Run("killed before "+step, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "ca")
			killCAStartAt(t, dir, step)

			stored, err := pemutil.ReadGeneration(dir, pemutil.Spec{Name: ca.CACertFile}, pemutil.Spec{Name: ca.CAKeyFile, Private: true})
			require.NoError(t, err)
			if swapped {
				require.Len(t, stored, 2, "after the swap the killed start's root is complete")
			} else {
				require.Empty(t, stored, "before the swap nothing of the killed start is visible")
			}

			c, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
			require.NoError(t, err, "the next start after a kill before %q", step)
			if swapped {
				assert.Equal(t, string(stored[ca.CACertFile]), string(c.RootPEM()), "the stored root is reused")
			}
			assertGeneration(t, dir, ca.CACertFile, ca.CAKeyFile, ca.RootCertFile)
			key, err := pemutil.ParseKey(readFile(t, dir, ca.CAKeyFile))
			require.NoError(t, err)
			assert.True(t, pemutil.KeyMatches(key, c.SigningCert().PublicKey))
			assert.Equal(t, c.RootPEM(), readFile(t, dir, ca.RootCertFile))

			again, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
			require.NoError(t, err)
			assert.Equal(t, c.RootPEM(), again.RootPEM(), "and kept from then on")
		})
	}
}

// The older writer, killed between ca-cert.pem and ca-key.pem, left the
// whole key in a temp file and an incomplete set: the temp file is removed
// and the set is reported, since a root may have been in use.
func TestOldWriterKilledBetweenCertAndKey(t *testing.T) {
	t.Parallel()
	root := mkCert(t, certOpts{cn: "Root", isCA: true})
	dir := filepath.Join(t.TempDir(), "ca")
	require.NoError(t, os.Mkdir(dir, 0o700))
	writeFile(t, dir, ca.RootCertFile, root.certPEM())
	writeFile(t, dir, ca.CACertFile, root.certPEM())
	writeFile(t, dir, ".ca-key.pem.tmp2718281828", root.keyPEM(t))
	_, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "self-signed root in "+dir+" is incomplete: ca-key.pem is missing but ca-cert.pem exists")
	assert.NoFileExists(t, filepath.Join(dir, ".ca-key.pem.tmp2718281828"), "the key's temp file is removed")
}

// killCAStartAt runs TestCACrashHelper in a child process that creates a
// CA in dir, waits until it stops before step, and kills it.
func killCAStartAt(t *testing.T, dir, step string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound for failure only
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCACrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CA_CRASH_DIR="+dir, "CA_CRASH_AT="+step)
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

// TestCACrashHelper is the child process of TestFirstStartSurvivesSIGKILL.
func TestCACrashHelper(t *testing.T) {
	dir := os.Getenv("CA_CRASH_DIR")
	if dir == "" {
		t.Skip("the child process of TestFirstStartSurvivesSIGKILL")
	}
	at := os.Getenv("CA_CRASH_AT")
	pemutil.StepHook = func(step string) {
		if step == at {
			fmt.Println("stopped before " + step)
			time.Sleep(time.Hour) // until killed
		}
	}
	_, err := ca.New(ca.Options{DataDir: dir}, nil, nil)
	fmt.Println("finished without reaching the step:", err)
}
