package kube_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/kube"
)

// With a kubeconfig for the real API server, Connect returns a working
// client and logs the server's version.
func TestConnect(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	opts := kube.Options{Kubeconfig: e.Kubeconfig(t)}
	opts.SetDefaults()
	cfg, err := kube.RESTConfig(opts)
	require.NoError(t, err)
	assert.Equal(t, "bootgraph", cfg.UserAgent)

	core, logs := observer.New(zapcore.InfoLevel)
	client, err := kube.Connect(cfg, opts, zap.New(core))
	require.NoError(t, err)
	_, err = client.Namespaces().Get(context.Background(), "default", metav1.GetOptions{})
	require.NoError(t, err)
	connected := logs.FilterMessage("connected to the Kubernetes API server").All()
	require.Len(t, connected, 1)
	assert.NotEmpty(t, connected[0].ContextMap()["version"])
}

// An API server that is not there at boot: Connect retries, logging each
// attempt, and gives up after kube.connectTimeout with an error naming the
// server.
func TestConnectAPIServerAway(t *testing.T) {
	t.Parallel()
	addr := testutil.FreeAddr(t)
	opts := kube.Options{Kubeconfig: writeKubeconfig(t, "https://"+addr), ConnectTimeout: component.Duration(1500 * time.Millisecond)}
	opts.SetDefaults()
	cfg, err := kube.RESTConfig(opts)
	require.NoError(t, err)

	core, logs := observer.New(zapcore.InfoLevel)
	begin := time.Now()
	_, err = kube.Connect(cfg, opts, zap.New(core))
	took := time.Since(begin)
	require.Error(t, err)
	assert.Contains(t, err.Error(), addr)
	assert.Contains(t, err.Error(), "did not answer within")
	assert.Less(t, took, 4*time.Second, "bounded by kube.connectTimeout")

	waits := logs.FilterMessage("waiting for the Kubernetes API server").All()
	assert.GreaterOrEqual(t, len(waits), 3, "each retry is logged")
	for _, w := range waits {
		assert.Contains(t, w.ContextMap()["server"], addr)
	}
}

// A kubeconfig that is not there is an error naming the file and the field.
func TestRESTConfigMissingKubeconfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "no-such-kubeconfig")
	_, err := kube.RESTConfig(kube.Options{Kubeconfig: path})
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "kubeconfig ")
}

// Validate reports every invalid field, by its path relative to the
// options (the config layer prefixes "kube.").
func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    kube.Options
		wantErr []string
	}{
		{name: "defaults", opts: kube.Options{}},
		{name: "negative connect timeout", opts: kube.Options{ConnectTimeout: component.Duration(-time.Second)},
			wantErr: []string{"connectTimeout: -1s must be positive"}},
		{name: "empty audience and bad timeout", opts: kube.Options{ConnectTimeout: component.Duration(-1), TokenAudiences: []string{"istio-ca", ""}},
			wantErr: []string{"connectTimeout: -1ns must be positive", "tokenAudiences[1]: must not be empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.SetDefaults()
			err := tt.opts.Validate()
			if tt.wantErr == nil {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotContains(t, err.Error(), "kube.", "relative to the options")
		})
	}
}

// Module with invalid options fails the composition before anything runs
// (no connection is tried), naming the Go fields.
func TestModuleInvalidOptions(t *testing.T) {
	t.Parallel()
	err := fx.ValidateApp(
		fx.Supply(zap.NewNop()),
		kube.Module(kube.Options{Kubeconfig: filepath.Join(t.TempDir(), "never-read"), ConnectTimeout: component.Duration(-time.Second), TokenAudiences: []string{""}}),
	)
	require.Error(t, err)
	var oe *component.OptionsError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "kube", oe.Part)
	for _, want := range []string{
		"kube part: ",
		"kube.Options.ConnectTimeout: -1s must be positive",
		"kube.Options.TokenAudiences[0]: must not be empty",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

// writeKubeconfig writes a kubeconfig for server with no credentials.
func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["away"] = &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}
	kc.AuthInfos["nobody"] = &clientcmdapi.AuthInfo{}
	kc.Contexts["away"] = &clientcmdapi.Context{Cluster: "away", AuthInfo: "nobody"}
	kc.CurrentContext = "away"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, path))
	return path
}
