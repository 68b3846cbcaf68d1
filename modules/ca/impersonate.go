package ca

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	pb "istio.io/api/security/v1alpha1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ImpersonatedIdentityMetadata is the request metadata key by which a node
// agent (ztunnel) asks for a certificate of another identity, istiod's
// security.ImpersonatedIdentity.
const ImpersonatedIdentityMetadata = "ImpersonatedIdentity"

// NodeAuthorizer checks, in Kubernetes mode, that an identity a trusted
// node account impersonates runs on that account's node: the kube part
// provides one (istiod's node authorizer).
type NodeAuthorizer interface {
	// AuthorizeImpersonation returns nil when caller (a trusted node
	// account) may get a certificate for namespace/serviceAccount.
	AuthorizeImpersonation(ctx context.Context, caller *Caller, namespace, serviceAccount string) error
}

// impersonatedIdentity returns the request's ImpersonatedIdentity, or "".
func impersonatedIdentity(req *pb.IstioCertificateRequest) string {
	return req.GetMetadata().GetFields()[ImpersonatedIdentityMetadata].GetStringValue()
}

// ParseSpiffeID splits spiffe://<trustDomain>/ns/<namespace>/sa/<sa>,
// checking the trust domain and that both names are Kubernetes names.
func ParseSpiffeID(id, trustDomain string) (namespace, serviceAccount string, err error) {
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "spiffe" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", fmt.Errorf("%q is not a SPIFFE ID", id)
	}
	if u.Host != trustDomain {
		return "", "", fmt.Errorf("%q is not in trust domain %q", id, trustDomain)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 4 || parts[0] != "ns" || parts[2] != "sa" {
		return "", "", fmt.Errorf("%q is not spiffe://%s/ns/<namespace>/sa/<serviceaccount>", id, trustDomain)
	}
	if len(validation.IsDNS1123Label(parts[1])) > 0 || len(validation.IsDNS1123Subdomain(parts[3])) > 0 {
		return "", "", fmt.Errorf("%q does not name a Kubernetes namespace and service account", id)
	}
	return parts[1], parts[3], nil
}

// authorizeImpersonation decides whether caller may get a certificate for
// the identity it impersonates, as istiod: only a trusted node account
// (Options.TrustedNodeAccounts), only an identity of this trust domain,
// and in Kubernetes mode only one with a pod on the caller's node.
func (s *Service) authorizeImpersonation(ctx context.Context, caller *Caller, identity string) (string, error) {
	td := s.ca.TrustDomain()
	if len(s.trusted) == 0 {
		return "", errors.New("impersonation is not allowed: no trusted node accounts are configured (ca.trustedNodeAccounts)")
	}
	trusted := false
	for _, id := range caller.Identities {
		ns, sa, err := ParseSpiffeID(id, td)
		if err == nil && slices.Contains(s.trusted, ns+"/"+sa) {
			trusted = true
			break
		}
	}
	if !trusted {
		return "", fmt.Errorf("caller %v is not a trusted node account (ca.trustedNodeAccounts) and may not impersonate", caller.Identities)
	}
	ns, sa, err := ParseSpiffeID(identity, td)
	if err != nil {
		return "", fmt.Errorf("impersonated identity: %w", err)
	}
	if s.nodes != nil {
		if err := s.nodes.AuthorizeImpersonation(ctx, caller, ns, sa); err != nil {
			return "", fmt.Errorf("impersonating %s: %w", identity, err)
		}
	}
	return SpiffeID(td, ns, sa), nil
}
