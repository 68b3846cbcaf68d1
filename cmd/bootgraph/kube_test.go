package main_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bootgraph/bootgraph/internal/kubetest"
)

var kenv *kubetest.Env

// `bootgraph serve --kubeconfig` against a real API server, as a user runs
// it: the root goes to the istio-ca-secret Secret, every namespace gets the
// istio-ca-root-cert ConfigMap, a pod's ServiceAccount token gets a workload
// certificate with `bootgraph cert`, and SIGTERM stops it cleanly.
func TestServeKubernetesMode(t *testing.T) {
	e := kubetest.Need(t, kenv)
	ns := e.Namespace(t, "plane")
	appNS := e.Namespace(t, "app")
	s := startServe(t, "--kubeconfig", e.Kubeconfig(t), "--namespace", ns)
	ctx := context.Background()

	secret, err := e.Client.CoreV1().Secrets(ns).Get(ctx, "istio-ca-secret", metav1.GetOptions{})
	require.NoError(t, err)
	root := secret.Data["root-cert.pem"]
	require.NotEmpty(t, root)
	rootFile := filepath.Join(t.TempDir(), "root-cert.pem")
	require.NoError(t, os.WriteFile(rootFile, root, 0o600))
	_, err = os.Stat(filepath.Join(s.dataDir, "tokens.csv"))
	assert.True(t, os.IsNotExist(err), "no local token file in Kubernetes mode")

	require.Eventually(t, func() bool {
		cm, err := e.Client.CoreV1().ConfigMaps(appNS).Get(ctx, "istio-ca-root-cert", metav1.GetOptions{})
		return err == nil && cm.Data["root-cert.pem"] == string(root)
	}, 30*time.Second, 100*time.Millisecond, "the root never reached namespace %s:\n%s", appNS, s.out)

	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(e.ServiceAccountToken(t, appNS, "web", "istio-ca")), 0o600))
	out := filepath.Join(t.TempDir(), "certs")
	msg, err := run(t, "cert", "--addr", s.grpcAddr, "--root", rootFile, "--token-file", tokenFile, "--out", out)
	require.NoError(t, err, msg)
	assert.Equal(t, "spiffe://cluster.local/ns/"+appNS+"/sa/web", checkCertDir(t, out, rootFile).URIs[0].String())

	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, s.cmd.Wait(), s.out.String())
	// The root distribution's election logged its Lease.
	assert.Regexp(t, `INFO\s+kube\S*\s+acquired lease\s+\{"lease": "`+ns+`/`, s.out.String())
	assert.Regexp(t, `INFO\s+kube\S*\s+released lease`, s.out.String())
}
