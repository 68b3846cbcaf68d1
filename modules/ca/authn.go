package ca

import (
	"context"
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
	if !ok || len(tlsInfo.State.VerifiedChains) == 0 || len(tlsInfo.State.VerifiedChains[0]) == 0 {
		return nil, nil // no client certificate was presented
	}
	leaf := tlsInfo.State.VerifiedChains[0][0]
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
// It returns the first caller found, or an error that lists why each failed.
func authenticate(ctx context.Context, chain []Authenticator) (*Caller, error) {
	var reasons []string
	for _, a := range chain {
		caller, err := a.Authenticate(ctx)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("%s: %v", a.Name(), err))
			continue
		}
		if caller != nil {
			return caller, nil
		}
	}
	if len(reasons) == 0 {
		return nil, errors.New("no credentials: present a client certificate or an authorization bearer token")
	}
	return nil, errors.New(strings.Join(reasons, "; "))
}
