// Package kube is the plane's Kubernetes mode, as an fx module: an API
// client (*kubeapi.Client, the narrow typed client of the resources the
// plane uses, not client-go's full clientset) from a kubeconfig
// (--kubeconfig, KUBECONFIG) or the in-cluster config, and the parts that
// use it.
//
// Without this module the plane runs in local mode. With it, the other
// modules switch to Kubernetes behaviour by what the graph provides, not by
// flags scattered through their code:
//
//   - a ca.Store backed by Secrets: the self-signed root in istio-ca-secret,
//     with its rotation phase, written with optimistic concurrency (the
//     resourceVersion) so that replicas converge on one bundle and a
//     rotation survives a crash; a plugged-in CA from cacerts, watched and
//     reloaded; replicas agree on one root;
//   - a ca.Authenticator that checks ServiceAccount tokens with a
//     TokenReview, and a ca.NodeAuthorizer (istiod's node authorizer) for
//     impersonation: the impersonated identity must have a pod on the
//     node of the caller's pod;
//   - root distribution: the ConfigMap istio-ca-root-cert in every
//     namespace (the whole trust bundle), one writer at a time through
//     leader election, rewritten on the CA's change notification, within
//     the client's rate limit (qps, burst);
//   - *kubeapi.Client for the webhook caBundle patcher and the
//     "kubernetes" serving-cert provider.
package kube
