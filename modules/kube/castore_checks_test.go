package kube_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube"
)

// CA material read from Secrets gets the checks of CA material read from
// files: a self-signed root whose root-cert.pem is another certificate, a
// key of another root, or a weak key, is refused with the Secret and the
// key named, instead of a CA whose clients fail verification.
func TestSecretStoreMaterialIsChecked(t *testing.T) {
	e := kubetest.Need(t, env)
	t.Parallel()
	root := newTestRoot(t, "Root")
	other := newTestRoot(t, "Other Root")
	weak := weakRoot(t)
	tests := []struct {
		name   string
		secret string
		typ    corev1.SecretType
		data   map[string][]byte
		wants  []string
	}{
		{
			name: "istio-ca-secret with a root-cert.pem of another root", secret: kube.CASecretName, typ: kube.CASecretType,
			data:  map[string][]byte{ca.CACertFile: root.certPEM, ca.CAKeyFile: root.keyPEM, ca.RootCertFile: other.certPEM},
			wants: []string{"root-cert.pem differs from ca-cert.pem"},
		},
		{
			name: "istio-ca-secret with the key of another root", secret: kube.CASecretName, typ: kube.CASecretType,
			data:  map[string][]byte{ca.CACertFile: root.certPEM, ca.CAKeyFile: other.keyPEM},
			wants: []string{"ca-key.pem does not match ca-cert.pem"},
		},
		{
			name: "istio-ca-secret with an RSA 1024 root", secret: kube.CASecretName, typ: kube.CASecretType,
			data:  map[string][]byte{ca.CACertFile: weak.certPEM, ca.CAKeyFile: weak.keyPEM},
			wants: []string{"ca-key.pem: key not accepted: RSA 1024 is too weak"},
		},
		{
			name: "cacerts with an RSA 1024 root", secret: kube.PluggedCASecretName, typ: corev1.SecretTypeOpaque,
			data: map[string][]byte{ca.CACertFile: weak.certPEM, ca.CAKeyFile: weak.keyPEM,
				ca.CertChainFile: weak.certPEM, ca.RootCertFile: weak.certPEM},
			wants: []string{"RSA 1024 is too weak"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := e.Namespace(t, "castore-checks")
			createSecret(t, e.Client, ns, tt.secret, tt.typ, tt.data)
			store, _ := newCAStore(t, e.API(t), ns)
			_, err := ca.NewFromStore(ca.Options{}, store, nil, nil)
			require.Error(t, err)
			for _, want := range append(tt.wants, "Secret "+ns+"/"+tt.secret) {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

// weakRoot is a self-signed root with an RSA 1024 key.
func weakRoot(t *testing.T) *testRoot {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Weak Root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyPEM, err := pemutil.EncodeKey(key)
	require.NoError(t, err)
	return &testRoot{cert: cert, key: key, certPEM: pemutil.EncodeCert(der), keyPEM: keyPEM}
}
