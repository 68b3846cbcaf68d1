package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// The Secrets a SecretStore reads and writes, under istiod's names.
const (
	// CASecretName holds the self-signed root, as istiod writes it.
	CASecretName = "istio-ca-secret"
	// CASecretType is the type istiod gives CASecretName.
	CASecretType corev1.SecretType = "istio.io/ca-root"
	// PluggedCASecretName holds an operator-supplied CA; when present it
	// takes precedence over the self-signed root.
	PluggedCASecretName = "cacerts"
)

// Keys of a plugged-in CA in the kubernetes.io/tls layout (cert-manager's),
// accepted in PluggedCASecretName instead of istiod's names.
const (
	tlsCertKey = corev1.TLSCertKey       // tls.crt: the signing cert and its intermediates
	tlsKeyKey  = corev1.TLSPrivateKeyKey // tls.key: its key
	tlsRootKey = "ca.crt"                // ca.crt: the root
)

// caSecretLabels mark the Secrets bootgraph creates.
func caSecretLabels() map[string]string {
	return map[string]string{
		"app.kubernetes.io/managed-by": "bootgraph",
		"app.kubernetes.io/component":  "ca",
	}
}

// SecretStore keeps the CA's root in Secrets of the control plane's
// namespace, as istiod does: an operator's CA in the Secret cacerts wins;
// otherwise the self-signed root in istio-ca-secret, created by the first
// replica to start and reused by every other.
//
// With the kube module in the graph, it is the ca.Store the CA uses.
type SecretStore struct {
	client    *kubeapi.Client
	namespace string
	budget    time.Duration
	backoff   wait.Backoff
	log       *zap.Logger
}

var _ ca.Store = (*SecretStore)(nil)

// NewSecretStore returns a SecretStore for the Secrets in namespace.
// Transient API errors (unavailable, timeouts, conflicts) are retried with
// backoff, and logged, for at most opts.ConnectTimeout per LoadOrCreate.
func NewSecretStore(client *kubeapi.Client, namespace string, opts Options, log *zap.Logger) *SecretStore {
	opts.SetDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	return &SecretStore{
		client:    client,
		namespace: namespace,
		budget:    time.Duration(opts.ConnectTimeout),
		backoff:   wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: math.MaxInt32, Cap: 2 * time.Second},
		log:       log,
	}
}

// provideSecretStore makes the CA keep its root in Secrets: the ca part
// takes an optional ca.Store and falls back to files without one.
func provideSecretStore(client *kubeapi.Client, cluster *component.Cluster, opts Options, log *zap.Logger) ca.Store {
	return NewSecretStore(client, cluster.Namespace, opts, log.Named("kube.castore"))
}

// LoadOrCreate implements ca.Store. It returns the plugged-in CA of the
// Secret cacerts if there is one, else the root in istio-ca-secret; when
// neither exists it stores what generate makes. A replica that loses the
// race to create istio-ca-secret returns the winner's root, never its own.
func (s *SecretStore) LoadOrCreate(ctx context.Context, generate func() (*ca.Stored, error)) (*ca.Stored, error) {
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	plugged, err := s.get(ctx, PluggedCASecretName)
	if err != nil {
		return nil, err
	}
	if plugged != nil {
		return s.fromPlugged(plugged)
	}
	root, err := s.get(ctx, CASecretName)
	if err != nil {
		return nil, err
	}
	if root != nil {
		return s.fromRoot(root)
	}
	return s.create(ctx, generate)
}

// create stores generated material in istio-ca-secret, or returns what
// another replica stored first.
func (s *SecretStore) create(ctx context.Context, generate func() (*ca.Stored, error)) (*ca.Stored, error) {
	st, err := generate()
	if err != nil {
		return nil, err
	}
	secret := s.rootSecret(st)
	err = s.retry(ctx, CASecretName, "create", func(ctx context.Context) error {
		_, err := s.client.Secrets(s.namespace).Create(ctx, secret, metav1.CreateOptions{})
		return err
	})
	switch {
	case err == nil:
		s.log.Info("stored the self-signed root", zap.String("secret", s.where(CASecretName)))
		st.Created, st.Where = true, s.where(CASecretName)
		return st, nil
	case apierrors.IsAlreadyExists(err):
		return s.loadWinner(ctx, st)
	default:
		return nil, s.wrap(CASecretName, "create", err)
	}
}

// loadWinner reads the root that another replica created first. It is
// ours only when a retried create had in fact succeeded.
func (s *SecretStore) loadWinner(ctx context.Context, mine *ca.Stored) (*ca.Stored, error) {
	secret, err := s.get(ctx, CASecretName)
	if err != nil {
		return nil, err
	}
	if secret == nil {
		return nil, fmt.Errorf("kube: %s: create said it exists, then get found none (deleted meanwhile?)", s.where(CASecretName))
	}
	st, err := s.fromRoot(secret)
	if err != nil {
		return nil, err
	}
	st.Created = bytes.Equal(st.CertPEM, mine.CertPEM)
	if !st.Created {
		s.log.Info("another replica stored the root first; using it", zap.String("secret", s.where(CASecretName)))
	}
	return st, nil
}

// get returns the named Secret, or nil when it does not exist.
func (s *SecretStore) get(ctx context.Context, name string) (*corev1.Secret, error) {
	var secret *corev1.Secret
	err := s.retry(ctx, name, "get", func(ctx context.Context) error {
		var err error
		secret, err = s.client.Secrets(s.namespace).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	switch {
	case err == nil:
		return secret, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	default:
		return nil, s.wrap(name, "get", err)
	}
}

// Load implements ca.RotationStore: the self-signed root in
// istio-ca-secret with its rotation phase, nil when there is none.
func (s *SecretStore) Load(ctx context.Context) (*ca.Stored, error) {
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	secret, err := s.get(ctx, CASecretName)
	if err != nil || secret == nil {
		return nil, err
	}
	return s.fromRoot(secret)
}

// Save implements ca.RotationStore: it updates istio-ca-secret with st
// if its resourceVersion is still st.Version (optimistic concurrency),
// else fails with ca.ErrConflict: another replica (or `bootgraph ca
// rotate`) wrote first, and the caller adopts what it wrote.
func (s *SecretStore) Save(ctx context.Context, st *ca.Stored) (*ca.Stored, error) {
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	secret := s.rootSecret(st)
	secret.ResourceVersion = st.Version
	var updated *corev1.Secret
	err := s.retry(ctx, CASecretName, "update", func(ctx context.Context) error {
		var err error
		updated, err = s.client.Secrets(s.namespace).Update(ctx, secret, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return &conflictError{err}
		}
		return err
	})
	var conflict *conflictError
	switch {
	case errors.As(err, &conflict):
		return nil, fmt.Errorf("kube: %s: %w", s.where(CASecretName), ca.ErrConflict)
	case err != nil:
		return nil, s.wrap(CASecretName, "update", err)
	}
	out := *st
	out.Version, out.Where = updated.ResourceVersion, s.where(CASecretName)
	return &out, nil
}

// conflictError stops retry: a conflict is an answer for Save.
type conflictError struct{ error }

func (e *conflictError) Unwrap() error { return e.error }

// LoadPlugged implements ca.PluggedSource: the operator's CA in the
// Secret cacerts, nil when there is none.
func (s *SecretStore) LoadPlugged(ctx context.Context) (*ca.Stored, error) {
	ctx, cancel := context.WithTimeout(ctx, s.budget)
	defer cancel()
	secret, err := s.get(ctx, PluggedCASecretName)
	if err != nil || secret == nil {
		return nil, err
	}
	return s.fromPlugged(secret)
}

// Watch implements ca.RotationStore: it watches istio-ca-secret and
// cacerts and calls changed on every event, until ctx is done. The plane
// needs RBAC list and watch on Secrets in its namespace (as istiod).
func (s *SecretStore) Watch(ctx context.Context, changed func()) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, name := range []string{CASecretName, PluggedCASecretName} {
		inf := kubeapi.NewInformer(s.client.Secrets(s.namespace), &corev1.Secret{}, func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}, nil)
		notify := func(any) { changed() }
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: notify, UpdateFunc: func(_, o any) { notify(o) }, DeleteFunc: notify,
		}); err != nil {
			s.log.Warn("cannot watch the CA's Secret; relying on the periodic check", zap.String("secret", s.where(name)), zap.Error(err))
			continue
		}
		wg.Go(func() { inf.RunWithContext(ctx) })
	}
	<-ctx.Done()
}

var (
	_ ca.RotationStore = (*SecretStore)(nil)
	_ ca.PluggedSource = (*SecretStore)(nil)
)

// fromRoot reads a self-signed root from istio-ca-secret.
func (s *SecretStore) fromRoot(secret *corev1.Secret) (*ca.Stored, error) {
	if missing := missingKeys(secret.Data, ca.CACertFile, ca.CAKeyFile); len(missing) > 0 {
		return nil, fmt.Errorf("kube: %s is incomplete: missing %v; restore it, or delete it to generate a new root",
			s.where(secret.Name), missing)
	}
	root := secret.Data[ca.RootCertFile]
	if len(root) == 0 {
		root = secret.Data[ca.CACertFile]
	}
	return &ca.Stored{
		CertPEM:      secret.Data[ca.CACertFile],
		KeyPEM:       secret.Data[ca.CAKeyFile],
		CertChainPEM: secret.Data[ca.CertChainFile],
		RootPEM:      root,
		Where:        s.where(secret.Name),
		Rotation:     secret.Data[ca.RotationFile],
		NextCertPEM:  secret.Data[ca.NextCertFile],
		NextKeyPEM:   secret.Data[ca.NextKeyFile],
		Version:      secret.ResourceVersion,
	}, nil
}

// fromPlugged reads an operator's CA from cacerts, under istiod's names or
// in the kubernetes.io/tls layout.
func (s *SecretStore) fromPlugged(secret *corev1.Secret) (*ca.Stored, error) {
	if isTLSLayout(secret.Data) {
		return s.fromPluggedTLS(secret)
	}
	if missing := missingKeys(secret.Data, ca.CACertFile, ca.CAKeyFile, ca.CertChainFile, ca.RootCertFile); len(missing) > 0 {
		return nil, fmt.Errorf("kube: plugged-in CA in %s is incomplete: missing %v (need %s, %s, %s and %s, or %s, %s and %s)",
			s.where(secret.Name), missing, ca.CACertFile, ca.CAKeyFile, ca.CertChainFile, ca.RootCertFile, tlsCertKey, tlsKeyKey, tlsRootKey)
	}
	return &ca.Stored{
		CertPEM:      secret.Data[ca.CACertFile],
		KeyPEM:       secret.Data[ca.CAKeyFile],
		CertChainPEM: secret.Data[ca.CertChainFile],
		RootPEM:      secret.Data[ca.RootCertFile],
		PluggedIn:    true,
		Where:        s.where(secret.Name),
		Version:      secret.ResourceVersion,
	}, nil
}

// fromPluggedTLS maps the kubernetes.io/tls layout as istiod does: tls.crt
// signs and, followed by ca.crt, is the chain.
func (s *SecretStore) fromPluggedTLS(secret *corev1.Secret) (*ca.Stored, error) {
	if missing := missingKeys(secret.Data, tlsCertKey, tlsKeyKey, tlsRootKey); len(missing) > 0 {
		return nil, fmt.Errorf("kube: plugged-in CA in %s is incomplete: missing %v (need %s, %s and %s)",
			s.where(secret.Name), missing, tlsCertKey, tlsKeyKey, tlsRootKey)
	}
	cert, root := secret.Data[tlsCertKey], secret.Data[tlsRootKey]
	return &ca.Stored{
		CertPEM:      cert,
		KeyPEM:       secret.Data[tlsKeyKey],
		CertChainPEM: joinPEM(cert, root),
		RootPEM:      root,
		PluggedIn:    true,
		Where:        s.where(secret.Name),
		Version:      secret.ResourceVersion,
	}, nil
}

// rootSecret is istio-ca-secret as istiod writes it.
func (s *SecretStore) rootSecret(st *ca.Stored) *corev1.Secret {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: CASecretName, Namespace: s.namespace, Labels: caSecretLabels()},
		Type:       CASecretType,
		Data: map[string][]byte{
			ca.CACertFile:    st.CertPEM,
			ca.CAKeyFile:     st.KeyPEM,
			ca.CertChainFile: st.CertChainPEM,
			ca.RootCertFile:  st.RootPEM,
		},
	}
	// The rotation phase, and the next root during a re-key; istiod
	// ignores these keys.
	for key, data := range map[string][]byte{ca.RotationFile: st.Rotation, ca.NextCertFile: st.NextCertPEM, ca.NextKeyFile: st.NextKeyPEM} {
		if len(data) > 0 {
			secret.Data[key] = data
		}
	}
	return secret
}

// retry runs op until it succeeds, fails for good, or ctx ends, backing off
// and logging after each transient failure. It returns op's last error.
func (s *SecretStore) retry(ctx context.Context, name, verb string, op func(context.Context) error) error {
	attempt := 0
	var last error
	waitErr := wait.ExponentialBackoffWithContext(ctx, s.backoff, func(ctx context.Context) (bool, error) {
		attempt++
		last = op(ctx)
		if last == nil || !transient(last) {
			return true, nil
		}
		s.log.Warn("retrying a Kubernetes API call for the CA",
			zap.String("secret", s.where(name)), zap.String("verb", verb), zap.Int("attempt", attempt), zap.Error(last))
		return false, nil
	})
	if waitErr != nil {
		if last == nil {
			last = waitErr
		}
		return fmt.Errorf("gave up after %d attempts within %v (the connect timeout): %w", attempt, s.budget, last)
	}
	return last
}

// wrap names the Secret and the verb; an error that is not the API
// server's answer about the Secret (it could not be reached, or gave up)
// also wraps ca.ErrStoreUnavailable.
func (s *SecretStore) wrap(name, verb string, err error) error {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || transient(err) {
		return fmt.Errorf("kube: %s %s: %w (%w)", verb, s.where(name), err, ca.ErrStoreUnavailable)
	}
	return fmt.Errorf("kube: %s %s: %w", verb, s.where(name), err)
}

func (s *SecretStore) where(name string) string {
	return "Secret " + s.namespace + "/" + name
}

// transient reports whether a failed call may succeed if tried again: the
// API server is unreachable, overloaded or unavailable, or the write lost a
// conflict. NotFound, AlreadyExists, Forbidden and the like are answers.
func transient(err error) bool {
	var conflict *conflictError
	if errors.As(err, &conflict) {
		return false
	}
	if _, ok := apierrors.SuggestsClientDelay(err); ok {
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return apierrors.IsServiceUnavailable(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
			apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err) || apierrors.IsConflict(err)
	}
	var netErr net.Error
	return errors.As(err, &netErr) || utilnet.IsProbableEOF(err) || utilnet.IsConnectionReset(err) || utilnet.IsConnectionRefused(err)
}

// isTLSLayout reports whether cacerts uses kubernetes.io/tls keys rather
// than istiod's names.
func isTLSLayout(data map[string][]byte) bool {
	if len(missingKeys(data, ca.CACertFile, ca.CAKeyFile, ca.CertChainFile, ca.RootCertFile)) < 4 {
		return false
	}
	return len(missingKeys(data, tlsCertKey, tlsKeyKey, tlsRootKey)) < 3
}

// missingKeys lists the keys absent from data. An empty value is present:
// istiod writes an empty cert-chain.pem.
func missingKeys(data map[string][]byte, keys ...string) []string {
	var missing []string
	for _, k := range keys {
		if _, ok := data[k]; !ok {
			missing = append(missing, k)
		}
	}
	return missing
}

// joinPEM concatenates PEM blocks, keeping a newline between them.
func joinPEM(a, b []byte) []byte {
	out := append([]byte{}, a...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, b...)
}
