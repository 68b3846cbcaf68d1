// Package dnscert provides the control plane's serving certificate bundle,
// *Bundle, for its own DNS names (istiod's "DNS cert"): the certificate and
// key its TLS listeners present, and the roots they trust for clients.
//
// Listeners never copy the certificate: they read it on every handshake
// through Bundle.ServerTLSConfig (GetConfigForClient), so a renewed or
// reloaded certificate, and new roots, take effect on the next handshake
// without a restart.
//
// The bundle comes from one provider, chosen as istiod's PILOT_CERT_PROVIDER:
//
//   - "istiod": signed by the CA value (*ca.CA) for istiod.<namespace>.svc,
//     the configured extra names and, in local mode, localhost and the
//     loopback addresses; renewed at half its lifetime, issued again when
//     the CA's signer changes (a rotation's switch), and its roots updated
//     when the CA's trust bundle changes: on the CA's change notification
//     (ca.CA.Changed), not a poll.
//   - "kubernetes": signed through a certificates.k8s.io/v1
//     CertificateSigningRequest for Kubernetes.SignerName, as istiod's
//     chiron does: approved by the plane if Kubernetes.Approve, awaited for
//     Kubernetes.Timeout, then deleted; renewed at half its lifetime. It
//     needs *kubeapi.Client (the kube module) and no CA module, and
//     lives in package kubecsr, which registers it when imported
//     (config.Builtin does), so that a plane without it links no
//     client-go.
//   - "files": read from CertFile, KeyFile and CACertFile (istiod's
//     --tlsCertFile, --tlsKeyFile, --caCertFile) and reloaded when they change.
//     It needs no CA module.
package servingcert
