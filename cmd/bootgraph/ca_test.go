package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/modules/ca"
)

// rotationConfig: leaves live 6s, a re-key's root propagates for 3s, the
// old one retires 6s after the switch; nothing rotates by itself.
const rotationConfig = `ca:
  defaultCertTTL: 6s
  maxCertTTL: 6s
  reloadInterval: 200ms
  rotation:
    auto: false
    propagationDelay: 3s
`

// `bootgraph ca rotate` against a running plane's data directory, while
// `bootgraph cert` keeps getting certificates as an agent does (its roots
// refreshed from each answer, alternately by token and by the last
// certificate): every call succeeds through the whole re-key, and
// `bootgraph ca status` shows each phase and the end.
func TestCARotateWhileCertKeepsWorking(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "plane.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(rotationConfig), 0o600))
	s := startServe(t, "--config", cfgFile)
	planeFlags := []string{"--config", cfgFile, "--data-dir", s.dataDir}

	msg, err := run(t, append([]string{"ca", "status"}, planeFlags...)...)
	require.NoError(t, err, msg)
	for _, want := range []string{"self-signed", "trust bundle:  1 root(s)", "rotation:      idle, generation 0", "none: automatic rotation is off"} {
		assert.Contains(t, msg, want)
	}
	before := caStatus(t, planeFlags)

	msg, err = run(t, append([]string{"ca", "rotate", "--kind", "rekey"}, planeFlags...)...)
	require.NoError(t, err, msg)
	assert.Contains(t, msg, "rotation (rekey) stored in "+filepath.Join(s.dataDir, "ca"))
	assert.Contains(t, msg, "propagating")
	assert.Contains(t, msg, "signing switches to")
	msg, err = run(t, append([]string{"ca", "rotate"}, planeFlags...)...)
	require.Error(t, err)
	assert.Contains(t, msg, "a rotation is in progress")

	// The agent: a certificate at a time until the rotation is over.
	root := filepath.Join(s.dataDir, "ca", "root-cert.pem")
	tokenFile := filepath.Join(s.dataDir, "tokens.csv")
	phases := map[ca.Phase]int{}
	deadline := time.Now().Add(3 * time.Minute) // a bound for failure only
	last := ""
	for i := 0; ; i++ {
		st := caStatus(t, planeFlags)
		phases[st.Rotation.Phase]++
		if st.Rotation.Phase == ca.PhaseIdle && st.Rotation.Generation == 3 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the rotation did not finish: %+v", st)
		out := filepath.Join(t.TempDir(), "certs")
		args := []string{"cert", "--addr", s.grpcAddr, "--root", root, "--out", out}
		if last != "" && i%2 == 1 {
			args = append(args, "--client-cert", filepath.Join(last, "cert-chain.pem"), "--client-key", filepath.Join(last, "key.pem"))
		} else {
			args = append(args, "--token-file", tokenFile)
		}
		msg, err := run(t, args...)
		require.NoError(t, err, "bootgraph cert in phase %s: %s", st.Rotation.Phase, msg)
		checkCertDir(t, out, filepath.Join(out, "root-cert.pem"))
		root, last = filepath.Join(out, "root-cert.pem"), out
	}
	t.Logf("status checks by phase: %v", phases)
	assert.Positive(t, phases[ca.PhasePropagating]+phases[ca.PhaseRetiring], "cert ran during the overlap")

	after := caStatus(t, planeFlags)
	require.Len(t, after.Roots, 1)
	assert.NotEqual(t, before.Signer.Fingerprint, after.Signer.Fingerprint)
	assert.Equal(t, after.Signer.Fingerprint, after.Roots[0].Fingerprint)
	msg, err = run(t, "cert", "--addr", s.grpcAddr, "--root", filepath.Join(s.dataDir, "ca", "root-cert.pem"),
		"--token-file", tokenFile, "--out", t.TempDir())
	require.NoError(t, err, "with the plane's exported root-cert.pem after the rotation: %s", msg)
}

// `bootgraph ca` on a plane that has never started says so.
func TestCAStatusWithoutRoot(t *testing.T) {
	msg, err := run(t, "ca", "status", "--data-dir", t.TempDir())
	require.Error(t, err)
	assert.Contains(t, msg, "no root stored yet")
	msg, err = run(t, "ca", "rotate", "--kind", "sideways", "--data-dir", t.TempDir())
	require.Error(t, err)
	assert.Contains(t, msg, `--kind "sideways": want renew or rekey`)
}

func caStatus(t *testing.T, flags []string) ca.Status {
	t.Helper()
	msg, err := run(t, append([]string{"ca", "status", "--format", "json"}, flags...)...)
	require.NoError(t, err, msg)
	var st ca.Status
	require.NoError(t, json.Unmarshal([]byte(msg), &st), msg)
	return st
}
