// Package kubecsr is servingcert's "kubernetes" provider: the plane's
// serving certificate signed through a certificates.k8s.io/v1
// CertificateSigningRequest, as istiod's chiron does (see Provider).
//
// It lives apart from package servingcert so that a plane that does not
// import it links no client-go: a CA-only plane stays small. Importing it
// registers the provider with servingcert (config.Builtin does):
//
//	import _ "github.com/bootgraph/bootgraph/modules/servingcert/kubecsr"
//
// With servingCert.provider: kubernetes the part then needs
// *kubeapi.Client (the kube part) and no CA part.
package kubecsr
