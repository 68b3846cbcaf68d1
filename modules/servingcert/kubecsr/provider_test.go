package kubecsr_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/kubetest"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/servingcert/kubecsr"
)

// signerCA is the test's certificate authority behind a CSR signer.
type signerCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	rootPEM []byte
}

func newSignerCA(t *testing.T) *signerCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test signer CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &signerCA{cert: cert, key: key, rootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// sign issues a serving certificate for the CSR's key and (unless
// withoutNames) names, for its expirationSeconds, as a signer controller
// would.
func (c *signerCA) sign(csr *certificatesv1.CertificateSigningRequest, withoutNames bool) ([]byte, error) {
	block, _ := pem.Decode(csr.Spec.Request)
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := req.CheckSignature(); err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      req.Subject,
		DNSNames:     req.DNSNames,
		IPAddresses:  req.IPAddresses,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Duration(*csr.Spec.ExpirationSeconds) * time.Second),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if withoutNames {
		tmpl.DNSNames, tmpl.IPAddresses = nil, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, req.PublicKey, c.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// signerMode is what the test's controller does with a CSR.
type signerMode int

const (
	signApproved     signerMode = iota // sign once someone else approved
	approveAndSign                     // approve, then sign
	deny                               // deny
	failApproved                       // mark approved CSRs Failed
	signWithoutNames                   // sign approved CSRs, leaving out their names
)

// signer plays the controllers a cluster runs for one signer name (there
// is no kube-controller-manager here): it watches that signer's CSRs and
// approves, signs, denies or fails them. seen keeps each CSR as last
// observed.
type signer struct {
	client kubernetes.Interface
	name   string
	mode   signerMode
	ca     *signerCA
	t      *testing.T

	mu   sync.Mutex
	seen map[string]*certificatesv1.CertificateSigningRequest
}

// startSigner runs a signer for signerName until the test ends.
func startSigner(t *testing.T, client kubernetes.Interface, signerName string, mode signerMode) *signer {
	t.Helper()
	s := &signer{client: client, name: signerName, mode: mode, ca: newSignerCA(t), t: t, seen: map[string]*certificatesv1.CertificateSigningRequest{}}
	w, err := client.CertificatesV1().CertificateSigningRequests().Watch(context.Background(), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.signerName", signerName).String(),
	})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if csr, ok := ev.Object.(*certificatesv1.CertificateSigningRequest); ok && ev.Type != watch.Deleted {
				s.handle(csr)
			}
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		<-done
	})
	return s
}

func (s *signer) handle(csr *certificatesv1.CertificateSigningRequest) {
	s.mu.Lock()
	s.seen[csr.Name] = csr
	s.mu.Unlock()
	if len(csr.Status.Certificate) > 0 || hasCondition(csr, certificatesv1.CertificateDenied) || hasCondition(csr, certificatesv1.CertificateFailed) {
		return
	}
	approved := hasCondition(csr, certificatesv1.CertificateApproved)
	var err error
	switch {
	case s.mode == deny:
		err = s.setCondition(csr, certificatesv1.CertificateDenied, "TestDenied", "the test denies it")
	case s.mode == approveAndSign && !approved:
		err = s.setCondition(csr, certificatesv1.CertificateApproved, "TestApproved", "the test approves it")
	case s.mode == failApproved && approved:
		csr.Status.Conditions = append(csr.Status.Conditions, condition(certificatesv1.CertificateFailed, "TestFailed", "the test signer failed"))
		_, err = s.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(context.Background(), csr, metav1.UpdateOptions{})
	case approved:
		err = s.issue(csr)
	}
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		s.t.Errorf("signer %s on CSR %s: %v", s.name, csr.Name, err)
	}
}

func (s *signer) issue(csr *certificatesv1.CertificateSigningRequest) error {
	cert, err := s.ca.sign(csr, s.mode == signWithoutNames)
	if err != nil {
		return err
	}
	csr.Status.Certificate = cert
	_, err = s.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(context.Background(), csr, metav1.UpdateOptions{})
	return err
}

func (s *signer) setCondition(csr *certificatesv1.CertificateSigningRequest, typ certificatesv1.RequestConditionType, reason, msg string) error {
	csr.Status.Conditions = append(csr.Status.Conditions, condition(typ, reason, msg))
	_, err := s.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(context.Background(), csr.Name, csr, metav1.UpdateOptions{})
	return err
}

// only returns the one CSR the signer saw.
func (s *signer) only(t *testing.T) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Len(t, s.seen, 1, "CSRs of signer %s", s.name)
	for _, csr := range s.seen {
		return csr
	}
	return nil
}

func condition(typ certificatesv1.RequestConditionType, reason, msg string) certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: msg}
}

func hasCondition(csr *certificatesv1.CertificateSigningRequest, typ certificatesv1.RequestConditionType) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == typ {
			return true
		}
	}
	return false
}

// kubeOptions are kubernetes-provider options with a signer name of the
// test's own, for a plane in namespace ns.
func kubeOptions(ns string) servingcert.Options {
	return servingcert.Options{
		Provider:   servingcert.ProviderKubernetes,
		TTL:        component.Duration(time.Hour),
		Kubernetes: servingcert.KubernetesOptions{SignerName: "bootgraph.test/" + ns, Timeout: component.Duration(30 * time.Second)},
	}
}

// requireCSRGone fails unless CSR name no longer exists.
func requireCSRGone(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	_, err := client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
	require.Truef(t, apierrors.IsNotFound(err), "CSR %s must be deleted, Get returned %v", name, err)
}

// The provider's CSR, approved by the plane itself or by someone else and
// signed by the cluster's signer, becomes the bundle's certificate; the CSR
// is deleted afterwards.
func TestKubernetesProvider(t *testing.T) {
	e := kubetest.Need(t, kubeEnv)
	t.Parallel()
	tests := []struct {
		name    string
		approve bool
		mode    signerMode
		caFile  bool
	}{
		{name: "plane approves", approve: true, mode: signApproved},
		{name: "cluster approves", approve: false, mode: approveAndSign, caFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := e.Namespace(t, "dnscert")
			opts := kubeOptions(ns)
			opts.Kubernetes.Approve = tt.approve
			opts.DNSNames = []string{"istiod.example"}
			opts.LoopbackNames = ptr(true)
			s := startSigner(t, e.Client, opts.Kubernetes.SignerName, tt.mode)
			var roots []byte
			if tt.caFile {
				roots = s.ca.rootPEM
				opts.CACertFile = filepath.Join(t.TempDir(), "root-cert.pem")
				require.NoError(t, os.WriteFile(opts.CACertFile, roots, 0o600))
			}

			p, err := kubecsr.NewProvider(t.Context(), e.API(t), opts, opts.Names(ns, false), zaptest.NewLogger(t))
			require.NoError(t, err)

			leaf := p.Bundle().Leaf()
			require.NotNil(t, leaf)
			_, err = leaf.Verify(x509.VerifyOptions{Roots: pool(t, s.ca.rootPEM), DNSName: "istiod." + ns + ".svc"})
			require.NoError(t, err, "the certificate chains to the signer's CA")
			assert.Equal(t, []string{"istiod." + ns + ".svc", "istiod.example", "localhost"}, leaf.DNSNames)
			assert.Len(t, leaf.IPAddresses, 2)
			assert.Equal(t, roots, p.Bundle().RootsPEM(), "roots come from caCertFile only")

			csr := s.only(t)
			assert.Regexp(t, "^"+kubecsr.CSRNamePrefix, csr.Name)
			assert.Equal(t, opts.Kubernetes.SignerName, csr.Spec.SignerName)
			assert.Equal(t, []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth}, csr.Spec.Usages)
			assert.Equal(t, int32(3600), *csr.Spec.ExpirationSeconds)
			if tt.approve {
				assert.Equal(t, "BootgraphApproved", csr.Status.Conditions[0].Reason)
			}
			requireCSRGone(t, e.Client, csr.Name)
		})
	}
}

// A CSR that is denied, fails, or is not signed in time is an error naming
// the CSR and what it waited for; the CSR is deleted all the same.
func TestKubernetesProviderErrors(t *testing.T) {
	e := kubetest.Need(t, kubeEnv)
	t.Parallel()
	csrName := regexp.MustCompile(kubecsr.CSRNamePrefix + `[a-z0-9]+`)
	tests := []struct {
		name    string
		approve bool
		mode    *signerMode // nil: nothing signs
		want    []string    // {signer} is replaced by the signer name
	}{
		{name: "denied", mode: ptr(deny), want: []string{"serving certificate from the Kubernetes CSR API: CSR bootgraph-serving-", ` was denied (reason "TestDenied": the test denies it)`}},
		{name: "failed", approve: true, mode: ptr(failApproved), want: []string{` failed (reason "TestFailed": the test signer failed)`}},
		{name: "names left out", approve: true, mode: ptr(signWithoutNames), want: []string{"serving certificate from the Kubernetes CSR API: certificate of CSR bootgraph-serving-", `: the signer left names ["istiod.`}},
		{name: "no signer", approve: true, want: []string{" was not signed within 1s: nothing signs signer {signer}"}},
		{name: "no approver", want: []string{" was not approved within 1s: approve it (kubectl certificate approve bootgraph-serving-", "or let the plane approve its own (the kubernetes provider's approve option)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := e.Namespace(t, "dnscert")
			opts := kubeOptions(ns)
			opts.Kubernetes.Approve = tt.approve
			opts.Kubernetes.Timeout = component.Duration(time.Second)
			if tt.mode != nil {
				startSigner(t, e.Client, opts.Kubernetes.SignerName, *tt.mode)
			}

			_, err := kubecsr.NewProvider(t.Context(), e.API(t), opts, opts.Names(ns, false), zaptest.NewLogger(t))

			require.Error(t, err)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), regexp.MustCompile(`\{signer\}`).ReplaceAllLiteralString(want, opts.Kubernetes.SignerName))
			}
			name := csrName.FindString(err.Error())
			require.NotEmpty(t, name, "the error names the CSR: %v", err)
			requireCSRGone(t, e.Client, name)
		})
	}

	t.Run("canceled", func(t *testing.T) {
		t.Parallel()
		ns := e.Namespace(t, "dnscert")
		opts := kubeOptions(ns)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()

		_, err := kubecsr.NewProvider(ctx, e.API(t), opts, opts.Names(ns, false), zaptest.NewLogger(t))

		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 10*time.Second, "the wait ends with its context, not after kubernetes.timeout")
		name := csrName.FindString(err.Error())
		require.NotEmpty(t, name, "the error names the CSR: %v", err)
		requireCSRGone(t, e.Client, name)
	})
}

func ptr[T any](v T) *T { return &v }

// The module provides the bundle from the kubernetes provider, and its
// renewal loop stops with the app.
func TestModuleKubernetesProvider(t *testing.T) {
	e := kubetest.Need(t, kubeEnv)
	t.Parallel()
	ns := e.Namespace(t, "dnscert")
	opts := kubeOptions(ns)
	opts.Kubernetes.Approve = true
	startSigner(t, e.Client, opts.Kubernetes.SignerName, signApproved)

	var b *servingcert.Bundle
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		fx.Supply(e.API(t)),
		// What the kube part provides: the plane runs in a cluster, so no
		// loopback names unless a listener binds loopback.
		component.SupplyEnv(component.Env{Namespace: ns}),
		fx.Supply(&component.Cluster{ID: "Kubernetes", Namespace: ns}),
		servingcert.Module(opts),
		fx.Populate(&b),
	)
	app.RequireStart()
	defer app.RequireStop()
	require.NotNil(t, b.Leaf())
	assert.Equal(t, []string{"istiod." + ns + ".svc"}, b.Leaf().DNSNames, "the namespace comes from the Env")
	assert.Empty(t, b.Leaf().IPAddresses, "no loopback names in a cluster")
}

// Without a Kubernetes client (the kube module) the kubernetes provider
// fails before anything starts, naming the missing type.
func TestModuleKubernetesProviderNeedsClient(t *testing.T) {
	t.Parallel()
	app := fx.New(
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		servingcert.Module(kubeOptions("mesh")),
		fx.Invoke(func(*servingcert.Bundle) {}),
	)
	require.Error(t, app.Err())
	assert.Contains(t, app.Err().Error(), "missing type: *kubeapi.Client")
}

// The RBAC the provider's doc comment lists is enough, and the approve
// verb on the signer is needed: without it the API server refuses the
// approval. (Every other test uses the admin client, which RBAC does not
// restrict.)
func TestKubernetesProviderRBAC(t *testing.T) {
	e := kubetest.Need(t, kubeEnv)
	t.Parallel()
	tests := []struct {
		name        string
		grantSigner bool
		wantErr     string
	}{
		{name: "documented rules", grantSigner: true},
		{name: "without approve on the signer", wantErr: "is forbidden: user not permitted to approve requests with signerName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns := e.Namespace(t, "dnscert-rbac")
			opts := kubeOptions(ns)
			opts.Kubernetes.Approve = true
			startSigner(t, e.Client, opts.Kubernetes.SignerName, signApproved)
			client := restrictedClient(t, e, ns, provisionerRules(opts.Kubernetes.SignerName, tt.grantSigner))

			p, err := kubecsr.NewProvider(t.Context(), client, opts, opts.Names(ns, false), zaptest.NewLogger(t))

			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Contains(t, err.Error(), "approve CSR "+kubecsr.CSRNamePrefix)
				assert.Contains(t, err.Error(), opts.Kubernetes.SignerName)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, p.Bundle().Leaf())
		})
	}
}

// provisionerRules are the rules KubernetesProvider documents.
func provisionerRules(signerName string, approve bool) []rbacv1.PolicyRule {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
		{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests/approval"}, Verbs: []string{"update"}},
	}
	if approve {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, ResourceNames: []string{signerName}, Verbs: []string{"approve"}})
	}
	return rules
}

// restrictedClient is a client for a new ServiceAccount in ns that is bound
// to a ClusterRole with rules and nothing else.
func restrictedClient(t *testing.T, e *kubetest.Env, ns string, rules []rbacv1.PolicyRule) *kubeapi.Client {
	t.Helper()
	ctx := context.Background()
	rbac := e.Client.RbacV1()
	role, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: ns + "-"}, Rules: rules}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{}) })
	token := e.ServiceAccountToken(t, ns, "istiod")
	binding, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: ns + "-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "istiod"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = rbac.ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})

	cfg := rest.AnonymousClientConfig(e.Config)
	cfg.BearerToken = token
	client, err := kubeapi.New(cfg)
	require.NoError(t, err)
	return client
}

func TestOptionsValidateKubernetes(t *testing.T) {
	t.Parallel()
	valid := func() servingcert.Options {
		return servingcert.Options{Provider: servingcert.ProviderKubernetes, Kubernetes: servingcert.KubernetesOptions{SignerName: "example.com/serving"}}
	}
	tests := []struct {
		name     string
		edit     func(*servingcert.Options)
		contains []string // empty: valid
	}{
		{"valid", func(*servingcert.Options) {}, nil},
		{"with caCertFile", func(o *servingcert.Options) { o.CACertFile = "root.pem" }, nil},
		{"no signer", func(o *servingcert.Options) { o.Kubernetes.SignerName = "" }, []string{"kubernetes.signerName: required by the kubernetes provider"}},
		{"signer without path", func(o *servingcert.Options) { o.Kubernetes.SignerName = "example.com" }, []string{`kubernetes.signerName: "example.com" is not <domain>/<path>`}},
		{"negative timeout", func(o *servingcert.Options) { o.Kubernetes.Timeout = component.Duration(-time.Second) }, []string{"kubernetes.timeout: -1s must be positive"}},
		{"ttl under 10m", func(o *servingcert.Options) { o.TTL = component.Duration(time.Minute) }, []string{"ttl: 1m is shorter than a Kubernetes CSR's minimum expirationSeconds (10m)"}},
		{"cert file", func(o *servingcert.Options) { o.CertFile = "c.pem" }, []string{`provider: "kubernetes" conflicts with certFile/keyFile`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := valid()
			tt.edit(&o)
			o.SetDefaults()

			err := o.Validate()

			if len(tt.contains) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, s := range tt.contains {
				assert.Contains(t, err.Error(), s)
			}
			assert.NotContains(t, err.Error(), "servingCert.", "relative to the options")
		})
	}

	o := servingcert.Options{Provider: servingcert.ProviderKubernetes}
	o.SetDefaults()
	assert.Equal(t, component.Duration(servingcert.DefaultCSRTimeout), o.Kubernetes.Timeout)
}

// Without servingCert.caCertFile, a plane with a CA trusts the CA's root
// for client certificates: workloads' mTLS keeps working with this provider.
func TestModuleKubernetesProviderTrustsPlaneCA(t *testing.T) {
	e := kubetest.Need(t, kubeEnv)
	t.Parallel()
	ns := e.Namespace(t, "dnscert")
	opts := kubeOptions(ns)
	opts.Kubernetes.Approve = true
	startSigner(t, e.Client, opts.Kubernetes.SignerName, signApproved)
	authority := testutil.NewCA(t)

	var b *servingcert.Bundle
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		fx.Supply(e.API(t)),
		component.SupplyEnv(component.Env{Namespace: ns}),
		fx.Supply(authority),
		servingcert.Module(opts),
		fx.Populate(&b),
	)
	app.RequireStart()
	defer app.RequireStop()
	assert.Equal(t, string(authority.RootPEM()), string(b.RootsPEM()))
}

// The kubernetes provider reads its client CA file bounded too, before it
// asks the API server for anything.
func TestKubernetesProviderReadsCAFileBounded(t *testing.T) {
	e := kubetest.Need(t, kubeEnv)
	t.Parallel()
	for _, tt := range []struct {
		name string
		make func(*testing.T, string)
		want string
	}{
		{"FIFO", mkfifo, "a named pipe (FIFO)"},
		{"/dev/zero", linkTo("/dev/zero"), "a character device"},
		{"2 MiB", bigFile(2 << 20), "more than the 1 MiB limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "ca.crt")
			require.NoError(t, os.WriteFile(path, nil, 0o600))
			tt.make(t, path)
			client, requests := countingClient(t, e)
			opts := servingcert.Options{Provider: servingcert.ProviderKubernetes, CACertFile: path,
				Kubernetes: servingcert.KubernetesOptions{SignerName: "example.com/serving"}}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := kubecsr.NewProvider(ctx, client, opts, []string{"istiod.istio-system.svc"}, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "client CA file: ")
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, requests(), "nothing was asked of the API server")
			_, err = client.ServerVersion(ctx)
			require.NoError(t, err)
			assert.Equal(t, []string{"GET /version"}, requests(), "the client's requests are counted")
		})
	}
}

// countingClient is a client of e's API server that records the requests
// it sends; requests returns them ("GET /apis/...").
func countingClient(t *testing.T, e *kubetest.Env) (client *kubeapi.Client, requests func() []string) {
	t.Helper()
	var mu sync.Mutex
	var sent []string
	cfg := rest.CopyConfig(e.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			sent = append(sent, req.Method+" "+req.URL.Path)
			mu.Unlock()
			return rt.RoundTrip(req)
		})
	})
	client, err := kubeapi.New(cfg)
	require.NoError(t, err)
	return client, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(sent)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
