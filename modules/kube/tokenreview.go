package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// AuthSourceKubeJWT is the Name of the TokenReview authenticator and the
// AuthSource of the callers it accepts, as istiod names it.
const AuthSourceKubeJWT = "KubeJWT"

// ClusterIDMetadata is the gRPC metadata key by which a CA client names the
// cluster its token comes from.
const ClusterIDMetadata = "clusterid"

// serviceAccountsGroup holds every ServiceAccount; a token outside it is a
// user's, not a workload's.
const serviceAccountsGroup = "system:serviceaccounts"

// reviewTimeout bounds one TokenReview, so a slow API server cannot hold a
// CA request whose client set no deadline.
const reviewTimeout = 10 * time.Second

// TokenReviewAuthenticator lets workloads authenticate to the CA with their
// ServiceAccount token ("authorization: Bearer <token>"), which the API
// server checks in a TokenReview, as istiod's KubeJWT authenticator does.
// The token must carry one of the configured audiences (kube.tokenAudiences,
// default istio-ca) and belong to a ServiceAccount; the caller's identity is
// spiffe://<trust domain>/ns/<namespace>/sa/<service account>.
//
// The plane needs RBAC "create" on tokenreviews.authentication.k8s.io.
type TokenReviewAuthenticator struct {
	client      *kubeapi.Client
	audiences   []string
	clusterID   string
	trustDomain string
}

// NewTokenReviewAuthenticator checks tokens with client, for opts'
// TokenAudiences and ClusterID (defaults applied), issuing identities in
// trustDomain.
func NewTokenReviewAuthenticator(client *kubeapi.Client, opts Options, trustDomain string) *TokenReviewAuthenticator {
	opts.SetDefaults()
	return &TokenReviewAuthenticator{
		client:      client,
		audiences:   slices.Clone(opts.TokenAudiences),
		clusterID:   opts.ClusterID,
		trustDomain: trustDomain,
	}
}

// newTokenReviewAuthenticator is added to the CA's chain. It is built only
// when the CA service is, so the kube part alone needs no *ca.CA.
func newTokenReviewAuthenticator(client *kubeapi.Client, opts Options, authority *ca.CA) ca.Authenticator {
	return NewTokenReviewAuthenticator(client, opts, authority.TrustDomain())
}

// Name implements ca.Authenticator.
func (*TokenReviewAuthenticator) Name() string { return AuthSourceKubeJWT }

// Authenticate implements ca.Authenticator. Without a bearer token it
// returns (nil, nil) so the next authenticator is tried. Its errors never
// contain the token.
func (a *TokenReviewAuthenticator) Authenticate(ctx context.Context) (*ca.Caller, error) {
	token, ok, err := ca.BearerToken(ctx)
	if !ok || err != nil {
		return nil, err
	}
	if err := a.checkCluster(ctx); err != nil {
		return nil, err
	}
	status, err := a.review(ctx, token)
	if err != nil {
		return nil, err
	}
	ns, sa, err := serviceAccount(status)
	if err != nil {
		return nil, err
	}
	caller := &ca.Caller{Identities: []string{ca.SpiffeID(a.trustDomain, ns, sa)}, AuthSource: AuthSourceKubeJWT,
		Namespace: ns, ServiceAccount: sa}
	// A pod-bound (projected) token names its pod, and on recent API
	// servers its node: what impersonation checks.
	extra := status.User.Extra
	caller.PodName, caller.PodUID, caller.NodeName = first(extra[extraPodName]), first(extra[extraPodUID]), first(extra[extraNodeName])
	return caller, nil
}

// The TokenReview user extra keys of a pod-bound token.
const (
	extraPodName  = "authentication.kubernetes.io/pod-name"
	extraPodUID   = "authentication.kubernetes.io/pod-uid"
	extraNodeName = "authentication.kubernetes.io/node-name"
)

func first(v authenticationv1.ExtraValue) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// checkCluster refuses a request that names another cluster: its token
// would be reviewed by the wrong API server.
func (a *TokenReviewAuthenticator) checkCluster(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	ids := md.Get(ClusterIDMetadata)
	if len(ids) == 0 || ids[0] == a.clusterID {
		return nil
	}
	return fmt.Errorf("%s metadata %q: unknown cluster (this is cluster %q)", ClusterIDMetadata, ids[0], a.clusterID)
}

// review asks the API server whether token is valid for the audiences.
func (a *TokenReviewAuthenticator) review(ctx context.Context, token string) (*authenticationv1.TokenReviewStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	tr, err := a.client.TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: a.audiences},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("TokenReview: %w", err)
	}
	st := &tr.Status
	switch {
	case st.Error != "":
		return nil, fmt.Errorf("TokenReview: token not accepted: %s", st.Error)
	case !st.Authenticated:
		return nil, errors.New("TokenReview: token not authenticated")
	case !a.audienceAware(st):
		return nil, fmt.Errorf("TokenReview: the API server confirmed none of the audiences %q", a.audiences)
	}
	return st, nil
}

// audienceAware reports whether the review confirmed one of our audiences.
// An empty status.audiences means the token is valid only for the API
// server itself (the TokenReview API's rule), which is not enough.
func (a *TokenReviewAuthenticator) audienceAware(st *authenticationv1.TokenReviewStatus) bool {
	return slices.ContainsFunc(st.Audiences, func(aud string) bool { return slices.Contains(a.audiences, aud) })
}

// serviceAccount extracts namespace and name from a reviewed user, which
// must be a ServiceAccount: "system:serviceaccount:<ns>:<sa>".
func serviceAccount(st *authenticationv1.TokenReviewStatus) (ns, sa string, err error) {
	user := st.User
	if !slices.Contains(user.Groups, serviceAccountsGroup) {
		return "", "", fmt.Errorf("TokenReview: user %q is not in group %s", user.Username, serviceAccountsGroup)
	}
	parts := strings.Split(user.Username, ":")
	if len(parts) != 4 || parts[0] != "system" || parts[1] != "serviceaccount" || parts[2] == "" || parts[3] == "" {
		return "", "", fmt.Errorf("TokenReview: username %q is not system:serviceaccount:<namespace>:<name>", user.Username)
	}
	return parts[2], parts[3], nil
}
