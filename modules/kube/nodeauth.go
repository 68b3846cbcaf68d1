package kube

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// NodeAuthorizer is istiod's node authorizer: a trusted node account
// (ztunnel) may get a certificate for an identity only if a pod of that
// service account is scheduled on the caller's own node. The caller's node
// is its pod's spec.nodeName; its pod is the one its ServiceAccount token
// is bound to (TokenReview's pod-name and pod-uid), so a token that is not
// bound to a pod cannot impersonate.
//
// It asks the API server on each impersonation (a Get of the caller's pod
// and a List of the namespace's pods on that node, by field selector)
// rather than keeping every pod in an informer as istiod does: it costs no
// memory in a large cluster, and a node agent asks once per workload
// certificate. The plane needs RBAC get and list on pods.
type NodeAuthorizer struct {
	client *kubeapi.Client
}

// NewNodeAuthorizer checks impersonation with client.
func NewNodeAuthorizer(client *kubeapi.Client) *NodeAuthorizer {
	return &NodeAuthorizer{client: client}
}

func newNodeAuthorizer(client *kubeapi.Client) ca.NodeAuthorizer {
	return NewNodeAuthorizer(client)
}

// AuthorizeImpersonation implements ca.NodeAuthorizer.
func (a *NodeAuthorizer) AuthorizeImpersonation(ctx context.Context, caller *ca.Caller, namespace, serviceAccount string) error {
	if caller.PodName == "" || caller.Namespace == "" {
		return errors.New("the caller's node is unknown: impersonation needs a ServiceAccount token bound to the caller's pod")
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	pod, err := a.client.Pods(caller.Namespace).Get(ctx, caller.PodName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("the caller's pod %s/%s does not exist", caller.Namespace, caller.PodName)
	case err != nil:
		return fmt.Errorf("get the caller's pod %s/%s: %w", caller.Namespace, caller.PodName, err)
	case caller.PodUID != "" && string(pod.UID) != caller.PodUID:
		return fmt.Errorf("the caller's pod %s/%s is not the one its token is bound to (uid %s, token's %s)", pod.Namespace, pod.Name, pod.UID, caller.PodUID)
	case pod.Spec.ServiceAccountName != caller.ServiceAccount:
		return fmt.Errorf("the caller's pod %s/%s runs as %s, not %s", pod.Namespace, pod.Name, pod.Spec.ServiceAccountName, caller.ServiceAccount)
	case pod.Spec.NodeName == "":
		return fmt.Errorf("the caller's pod %s/%s is not scheduled on a node", pod.Namespace, pod.Name)
	}
	node := pod.Spec.NodeName
	pods, err := a.client.Pods(namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		return fmt.Errorf("list the pods of namespace %s on node %s: %w", namespace, node, err)
	}
	for _, p := range pods.Items {
		if p.Spec.ServiceAccountName == serviceAccount && p.Spec.NodeName == node && !terminated(&p) {
			return nil
		}
	}
	return fmt.Errorf("no pod of service account %s/%s runs on node %s (the caller's)", namespace, serviceAccount, node)
}

func terminated(p *corev1.Pod) bool {
	return p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}
