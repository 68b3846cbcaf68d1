package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// Caller is an authenticated client of the CA service.
type Caller struct {
	// Identities are SPIFFE URIs, e.g. spiffe://cluster.local/ns/default/sa/app.
	Identities []string
	// AuthSource names the Authenticator that accepted the caller.
	AuthSource string
	// Namespace and ServiceAccount of a Kubernetes caller (TokenReview).
	Namespace, ServiceAccount string
	// PodName and PodUID name the pod a ServiceAccount token is bound to
	// (TokenReview's authentication.kubernetes.io/pod-name and pod-uid),
	// and NodeName its node when the API server says; empty otherwise.
	// Impersonation in Kubernetes mode needs the pod.
	PodName, PodUID, NodeName string
}

// Authenticator finds the caller of a CreateCertificate request. It returns
// (nil, nil) when its kind of credential is absent, so the next one is tried,
// and an error when a credential is present but not accepted.
//
// The client certificate is always tried first; further authenticators join
// the "ca.authenticators" value group and are tried in Name order. Kubernetes
// TokenReview is one such member.
type Authenticator interface {
	Name() string
	Authenticate(ctx context.Context) (*Caller, error)
}

// GroupAuthenticators is the value group that extra Authenticators join.
const GroupAuthenticators = "ca.authenticators"

// SpiffeID returns spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>.
func SpiffeID(trustDomain, namespace, serviceAccount string) string {
	return "spiffe://" + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount
}

// ClientCertAuthenticator accepts a client certificate that the TLS handshake
// verified against the CA roots, taking the caller's identities from its
// SPIFFE URI SANs. Identities of another trust domain are refused: a root
// shared between meshes must not let one mesh's workloads obtain
// certificates from the other's CA.
type ClientCertAuthenticator struct {
	// TrustDomain the identities must belong to.
	TrustDomain string
	// Roots, when set, verifies a client certificate that the TLS
	// handshake only requested (tls.RequestClientCert): then a bad one
	// is refused here as Unauthenticated, with the reason in the log,
	// instead of failing the handshake. Without Roots such a certificate
	// is refused.
	Roots func() *x509.CertPool
}

// Name implements Authenticator.
func (ClientCertAuthenticator) Name() string { return "ClientCert" }

// Authenticate implements Authenticator.
func (a ClientCertAuthenticator) Authenticate(ctx context.Context) (*Caller, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return nil, nil
	}
	tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil, nil
	}
	state := tlsInfo.State
	var leaf *x509.Certificate
	switch {
	case len(state.VerifiedChains) > 0 && len(state.VerifiedChains[0]) > 0:
		leaf = state.VerifiedChains[0][0]
	case len(state.PeerCertificates) == 0:
		return nil, nil // no client certificate was presented
	case a.Roots == nil:
		return nil, errors.New("the client certificate was not verified by the TLS handshake")
	default:
		inter := x509.NewCertPool()
		for _, c := range state.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		leaf = state.PeerCertificates[0]
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: a.Roots(), Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			return nil, fmt.Errorf("client certificate %s (serial %x) does not verify to the CA's roots: %w", leaf.Subject, leaf.SerialNumber, err)
		}
	}
	var ids []string
	for _, u := range leaf.URIs {
		if u.Scheme != "spiffe" {
			continue
		}
		if u.Host != a.TrustDomain {
			return nil, fmt.Errorf("client certificate identity %s is not in trust domain %q", u, a.TrustDomain)
		}
		ids = append(ids, u.String())
	}
	if len(ids) == 0 {
		return nil, errors.New("client certificate has no SPIFFE URI SAN")
	}
	return &Caller{Identities: ids, AuthSource: "ClientCert"}, nil
}

// authenticate runs the chain: client cert first, then the rest in order.
// It returns the first caller found, or an error that lists why each
// failed, with the reason for the metrics: the name of the first
// authenticator that refused a credential, or "no_credentials".
func authenticate(ctx context.Context, chain []Authenticator) (*Caller, string, error) {
	var reasons []string
	reason := "no_credentials"
	for _, a := range chain {
		caller, err := a.Authenticate(ctx)
		if err != nil {
			if len(reasons) == 0 {
				reason = a.Name()
			}
			reasons = append(reasons, fmt.Sprintf("%s: %v", a.Name(), err))
			continue
		}
		if caller != nil {
			return caller, "", nil
		}
	}
	if len(reasons) == 0 {
		return nil, reason, errors.New("no credentials: present a client certificate or an authorization bearer token")
	}
	return nil, reason, errors.New(strings.Join(reasons, "; "))
}
