// Package kube is the plane's Kubernetes mode, as an fx module: a client-go
// clientset from a kubeconfig (--kubeconfig, KUBECONFIG) or the in-cluster
// config, and the parts that use it.
//
// Without this module the plane runs in local mode. With it, the other
// modules switch to Kubernetes behaviour by what the graph provides, not by
// flags scattered through their code:
//
//   - a ca.Store backed by Secrets: the self-signed root in istio-ca-secret,
//     a plugged-in CA from cacerts; replicas agree on one root;
//   - a ca.Authenticator that checks ServiceAccount tokens with a
//     TokenReview;
//   - root distribution: the ConfigMap istio-ca-root-cert in every
//     namespace, one writer at a time through leader election;
//   - kubernetes.Interface for the webhook caBundle patcher and the
//     "kubernetes" serving-cert provider.
package kube
