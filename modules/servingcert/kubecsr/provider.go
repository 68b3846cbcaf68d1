package kubecsr

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math"
	"net"
	"time"

	"go.uber.org/zap"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"

	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// CSRNamePrefix starts the name of every CertificateSigningRequest the
// provider creates; the API server appends a random suffix.
const CSRNamePrefix = "bootgraph-serving-"

// deleteTimeout bounds deleting a finished CSR, which runs even when the
// wait for it was cancelled.
const deleteTimeout = 10 * time.Second

// renewCheckInterval is how often the wall clock is compared with the
// renewal time, as servingcert's own providers do.
const renewCheckInterval = time.Minute

// Provider keeps a servingcert.Bundle filled with a certificate signed
// through the Kubernetes CSR API, as istiod's chiron does: for each
// certificate it creates a CertificateSigningRequest for a new ECDSA P-256
// key and the plane's names (servingcert.Options.Names), approves it if
// Kubernetes.Approve, waits up to Kubernetes.Timeout for a signer to issue
// it, and deletes it. It renews at
// half the certificate's lifetime. The roots (trusted for client
// certificates) come from CACertFile, else from the plane's CA if it has one.
//
// The plane needs RBAC "create", "get", "list", "watch" and "delete" on
// certificatesigningrequests.certificates.k8s.io, and with
// Kubernetes.Approve also "update" on certificatesigningrequests/approval
// and "approve" on signers named Kubernetes.SignerName.
type Provider struct {
	client *kubeapi.Client
	opts   servingcert.Options
	names  []string
	log    *zap.Logger
	bundle *servingcert.Bundle
	// caRoots, when not nil, gives the roots when CACertFile is not set;
	// caChanged, when not nil, is the CA's change notification.
	caRoots      func() []byte
	caChanged    func() <-chan struct{}
	rootsChanged chan struct{}
}

// NewProvider gets the first certificate into a new Bundle; it
// returns when the certificate is signed, or with an error naming the CSR
// when it was denied, failed, or not signed within Kubernetes.Timeout.
func NewProvider(ctx context.Context, client *kubeapi.Client, opts servingcert.Options, names []string, log *zap.Logger) (*Provider, error) {
	return NewProviderWithRoots(ctx, client, opts, names, nil, log)
}

// NewProviderWithRoots is NewProvider with caRoots (e.g.
// (*ca.CA).RootPEM) giving the roots when CACertFile is not set, so that
// workloads' client certificates from the plane's own CA are trusted.
func NewProviderWithRoots(ctx context.Context, client *kubeapi.Client, opts servingcert.Options, names []string, caRoots func() []byte, log *zap.Logger) (*Provider, error) {
	opts.SetDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	p := &Provider{client: client, opts: opts, names: names, log: log, bundle: servingcert.NewBundle(), caRoots: caRoots,
		rootsChanged: make(chan struct{}, 1)}
	if err := p.issue(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Bundle returns the bundle this provider fills.
func (p *Provider) Bundle() *servingcert.Bundle { return p.bundle }

// FollowCA makes Run update the roots on each change of the CA (changed
// is ca.CA.Changed), when they come from the CA rather than CACertFile.
func (p *Provider) FollowCA(changed func() <-chan struct{}) { p.caChanged = changed }

// issue gets one certificate signed and puts it in the bundle.
func (p *Provider) issue(ctx context.Context) error {
	names := p.names
	roots, err := p.readRoots()
	if err != nil {
		return err
	}
	key, request, err := newServingCSR(names)
	if err != nil {
		return fmt.Errorf("serving certificate from the Kubernetes CSR API: %w", err)
	}
	name, chain, err := p.sign(ctx, request)
	if err != nil {
		return fmt.Errorf("serving certificate from the Kubernetes CSR API: %w", err)
	}
	if err := p.install(name, chain, key, roots, names); err != nil {
		return fmt.Errorf("serving certificate from the Kubernetes CSR API: certificate of CSR %s: %w", name, err)
	}
	return nil
}

// readRoots returns CACertFile's content, else the CA's roots, else nil.
func (p *Provider) readRoots() ([]byte, error) {
	if p.opts.CACertFile == "" {
		if p.caRoots != nil {
			return p.caRoots(), nil
		}
		return nil, nil
	}
	roots, err := pemutil.ReadFile(p.opts.CACertFile)
	if err != nil {
		return nil, fmt.Errorf("client CA file: %w", err)
	}
	return roots, nil
}

// newServingCSR makes a key and a PEM certificate request for names (DNS
// names or IP addresses).
func newServingCSR(names []string) (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate request: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// sign runs one CSR from creation to deletion and returns its name and
// the signed chain.
func (p *Provider) sign(ctx context.Context, request []byte) (string, []byte, error) {
	csr, err := p.createCSR(ctx, request)
	if err != nil {
		return "", nil, fmt.Errorf("create CertificateSigningRequest for signer %s: %w", p.opts.Kubernetes.SignerName, err)
	}
	defer p.deleteCSR(csr.Name)
	p.log.Info("created CertificateSigningRequest", zap.String("csr", csr.Name), zap.String("signer", csr.Spec.SignerName))
	if p.opts.Kubernetes.Approve {
		if err := p.approveCSR(ctx, csr); err != nil {
			return "", nil, fmt.Errorf("approve CSR %s: %w", csr.Name, err)
		}
	}
	chain, err := p.waitSigned(ctx, csr.Name)
	return csr.Name, chain, err
}

func (p *Provider) createCSR(ctx context.Context, request []byte) (*certificatesv1.CertificateSigningRequest, error) {
	expiration := expirationSeconds(time.Duration(p.opts.TTL))
	return p.client.CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: CSRNamePrefix,
			Labels:       map[string]string{"app.kubernetes.io/managed-by": "bootgraph", "app.kubernetes.io/component": "serving-cert"},
		},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:           request,
			SignerName:        p.opts.Kubernetes.SignerName,
			ExpirationSeconds: &expiration,
			Usages: []certificatesv1.KeyUsage{
				certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth,
			},
		},
	}, metav1.CreateOptions{})
}

// expirationSeconds converts ttl for spec.expirationSeconds, saturating
// rather than overflowing int32.
func expirationSeconds(ttl time.Duration) int32 {
	return int32(min(ttl/time.Second, math.MaxInt32))
}

// approveCSR adds the Approved condition, re-reading the CSR on conflict;
// a CSR someone else approved or denied meanwhile is left as it is.
func (p *Provider) approveCSR(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error {
	csrs := p.client.CertificateSigningRequests()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if hasCondition(csr, certificatesv1.CertificateApproved) || hasCondition(csr, certificatesv1.CertificateDenied) {
			return nil
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type:    certificatesv1.CertificateApproved,
			Status:  corev1.ConditionTrue,
			Reason:  "BootgraphApproved",
			Message: "approved by the bootgraph control plane for its own serving certificate",
		})
		_, err := csrs.UpdateApproval(ctx, csr, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if latest, getErr := csrs.Get(ctx, csr.Name, metav1.GetOptions{}); getErr == nil {
				csr = latest
			}
		}
		return err
	})
}

// waitSigned watches CSR name until it carries a certificate, is denied or
// failed, or Kubernetes.Timeout passes.
func (p *Provider) waitSigned(ctx context.Context, name string) ([]byte, error) {
	timeout := time.Duration(p.opts.Kubernetes.Timeout)
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last *certificatesv1.CertificateSigningRequest
	var verdict error // the CSR's own failure, which names it
	ev, err := watchtools.UntilWithSync(waitCtx, p.csrListWatch(name), &certificatesv1.CertificateSigningRequest{}, nil,
		func(ev watch.Event) (done bool, _ error) {
			if ev.Type == watch.Deleted {
				verdict = fmt.Errorf("CSR %s was deleted before it was signed", name)
				return false, verdict
			}
			csr, ok := ev.Object.(*certificatesv1.CertificateSigningRequest)
			if !ok {
				return false, nil
			}
			last = csr
			done, verdict = signed(csr)
			return done, verdict
		})
	switch {
	case err == nil:
		return ev.Object.(*certificatesv1.CertificateSigningRequest).Status.Certificate, nil
	case verdict != nil:
		return nil, verdict
	case ctx.Err() != nil:
		return nil, fmt.Errorf("waiting for CSR %s: %w", name, ctx.Err())
	case waitCtx.Err() != nil:
		return nil, p.timeoutError(name, last)
	}
	return nil, fmt.Errorf("waiting for CSR %s: %w", name, err)
}

// csrListWatch lists and watches the one CSR called name.
func (p *Provider) csrListWatch(name string) cache.ListerWatcher {
	csrs := p.client.CertificateSigningRequests()
	selector := fields.OneTermEqualSelector("metadata.name", name).String()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return csrs.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return csrs.Watch(ctx, o)
		},
	}
}

// signed reports whether csr carries its certificate, and fails when it
// was denied or its signing failed.
func signed(csr *certificatesv1.CertificateSigningRequest) (bool, error) {
	for _, c := range csr.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case certificatesv1.CertificateDenied:
			return false, fmt.Errorf("CSR %s was denied (reason %q: %s)", csr.Name, c.Reason, c.Message)
		case certificatesv1.CertificateFailed:
			return false, fmt.Errorf("CSR %s failed (reason %q: %s)", csr.Name, c.Reason, c.Message)
		}
	}
	return len(csr.Status.Certificate) > 0, nil
}

// timeoutError says what the CSR was still waiting for: an approval (when
// the plane does not approve its own) or a signer.
func (p *Provider) timeoutError(name string, last *certificatesv1.CertificateSigningRequest) error {
	k := p.opts.Kubernetes
	if !k.Approve && (last == nil || !hasCondition(last, certificatesv1.CertificateApproved)) {
		return fmt.Errorf("CSR %s was not approved within %v: approve it (kubectl certificate approve %s) or let the plane approve its own (the kubernetes provider's approve option)",
			name, k.Timeout, name)
	}
	return fmt.Errorf("CSR %s was not signed within %v: nothing signs signer %s", name, k.Timeout, k.SignerName)
}

// hasCondition reports whether csr has condition typ with status True.
func hasCondition(csr *certificatesv1.CertificateSigningRequest, typ certificatesv1.RequestConditionType) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// deleteCSR removes a finished CSR; a failure is logged, as the certificate
// (or the error that ended the wait) matters more.
func (p *Provider) deleteCSR(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	err := p.client.CertificateSigningRequests().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		p.log.Warn("deleting CertificateSigningRequest failed", zap.String("csr", name), zap.Error(err))
	}
}

// install checks that the chain signed for CSR csrName names every name and
// puts it, with key and roots, in the bundle.
func (p *Provider) install(csrName string, chain []byte, key crypto.Signer, roots []byte, names []string) error {
	certs, err := pemutil.ParseCerts(chain)
	if err != nil {
		return err
	}
	leaf := certs[0]
	if missing := missingNames(leaf, names); len(missing) > 0 {
		return fmt.Errorf("the signer left names %q out of the certificate", missing)
	}
	keyPEM, err := pemutil.EncodeKey(key)
	if err != nil {
		return err
	}
	if err := p.bundle.Set(chain, keyPEM, roots); err != nil {
		return err
	}
	p.log.Info("issued serving certificate",
		zap.String("csr", csrName), zap.Strings("names", names), zap.String("issuer", leaf.Issuer.String()), zap.Time("notAfter", leaf.NotAfter))
	return nil
}

// missingNames returns the names leaf is not valid for.
func missingNames(leaf *x509.Certificate, names []string) []string {
	var missing []string
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			missing = append(missing, n)
		}
	}
	return missing
}

// Run renews the certificate when due, comparing the wall clock with the
// renewal time every minute, and picks up a changed CACertFile, until ctx
// is done. A failed renewal is retried at the next check.
func (p *Provider) Run(ctx context.Context) {
	if p.caChanged != nil {
		// The CA's roots, followed on each change of the CA.
		go func() {
			for {
				changed := p.caChanged()
				select {
				case <-ctx.Done():
					return
				case <-changed:
				}
				select {
				case p.rootsChanged <- struct{}{}:
				default: // one pending is enough: it reads the latest roots
				}
			}
		}()
	}
	t := time.NewTicker(renewCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.rootsChanged:
			if err := p.reloadRoots(); err != nil {
				p.log.Warn("updating the roots failed; keeping the current roots", zap.Error(err))
			}
		case now := <-t.C:
			p.check(ctx, now)
		}
	}
}

// check renews the certificate when due, else reloads CACertFile.
func (p *Provider) check(ctx context.Context, now time.Time) {
	if now.After(p.bundle.RenewAt()) {
		if err := p.issue(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("renewing serving certificate failed; retrying", zap.Error(err))
		}
		return
	}
	if err := p.reloadRoots(); err != nil {
		p.log.Warn("reloading the client CA file failed; keeping the current roots", zap.Error(err))
	}
}

// reloadRoots puts a changed CACertFile in the bundle with the current
// certificate. Only Run writes the bundle, so the certificate and key read
// here are of one generation.
func (p *Provider) reloadRoots() error {
	roots, err := p.readRoots()
	if err != nil {
		return err
	}
	if bytes.Equal(roots, p.bundle.RootsPEM()) {
		return nil
	}
	if err := p.bundle.Set(p.bundle.CertChainPEM(), p.bundle.KeyPEM(), roots); err != nil {
		return fmt.Errorf("client CA file %s: %w", p.opts.CACertFile, err)
	}
	p.log.Info("reloaded the client CA file", zap.String("caCertFile", p.opts.CACertFile))
	return nil
}
