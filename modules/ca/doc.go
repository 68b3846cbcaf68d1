// Package ca is the control plane's certificate authority as an fx module.
//
// The CA is a value, *CA, that other modules depend on: the serving-cert
// provider asks it for the control plane's own certificate, and the secure
// gRPC listener trusts its roots for client certificates. Its gRPC service,
// istio.v1.auth.IstioCertificateService, joins the secure gRPC server through
// the "grpc.services" value group, so it is registered before that server
// accepts a connection. The CA's background work (Run) starts in an OnStart
// hook appended after every listener's, and so starts last and stops first.
//
// Two kinds of CA are supported, as in istiod:
//
//   - self-signed: a root generated on first start and kept in Options.DataDir
//     under istiod's istio-ca-secret file names (ca-cert.pem, ca-key.pem,
//     root-cert.pem), so that a restart reuses the same root;
//   - plugged-in: an operator-supplied signing certificate in
//     Options.PluggedCertsDir under istiod's cacerts names (ca-cert.pem,
//     ca-key.pem, cert-chain.pem, root-cert.pem), verified at load. A
//     directory that does not exist at the start is waited for, the
//     self-signed root serving meanwhile (istiod's rule).
//
// Certificates are issued for the caller's authenticated identity, never for
// the names a CSR asks for, and never outside the validity of the signing
// certificate and its issuers: while that is expired or not yet valid,
// every request fails with FailedPrecondition (counted in
// citadel_server_csr_sign_err_count{error="CA_CERT_NOT_VALID"}) and the
// CA's readiness check ("ca" in /ready) says why. CA keys and CSR keys
// must be RSA of 2048 to 8192 bits, ECDSA P-256, P-384 or P-521, or
// Ed25519.
//
// Signing costs little besides its crypto (the CSR's signature check, the
// signature, and the check of that signature): the parts of a leaf that
// do not change are encoded once per signer, and each leaf is assembled
// from them, byte for byte what x509.CreateCertificate would make (see
// leafEncoder). BenchmarkServeCreateCertificate measures the serving path
// against the bare crypto; scripts/profile-ca.sh profiles it.
//
// # Trust bundle and rotation
//
// The CA holds an ordered trust bundle (RootPEM, Roots, TrustBundle: the
// signer's root first) and one signer. Every change of either closes the
// channel Changed returned; the serving certificate, the istio-ca-root-cert
// distribution and, through the serving bundle, the client-CA pools of the
// TLS listeners follow it. Status says where a rotation stands.
//
// A self-signed root is rotated automatically when less than
// Rotation.Threshold of its life remains (istiod: hourly check, last
// 20%), after a random wait up to Rotation.Jitter so that replicas do not
// all rotate at once, or on demand (Rotate, RotateStored, `bootgraph ca
// rotate`), in one of two kinds:
//
//   - renew: the same key, a new validity; every certificate the old root
//     signed verifies with the new one, so it takes effect at once;
//   - rekey: a new key pair. PhasePropagating: the new root joins the
//     bundle while the old one signs, for Rotation.PropagationDelay;
//     PhaseRetiring: the new root signs (the serving certificate is issued
//     again from it) and the old one stays trusted until every certificate
//     it signed has expired (MaxCertTTL + ReloadInterval after the switch,
//     never after the old root's end); then PhaseIdle with the new root only.
//
// Each step is stored before it is published, with the phase
// (RotationFile, and the next root in NextCertFile and NextKeyFile while
// it propagates), in a RotationStore: FileStore (one generation per step,
// the directory locked against `bootgraph ca rotate`) or the kube part's
// Secret store (istio-ca-secret, written with its resourceVersion). A
// plane killed at any step resumes from what was stored; replicas that
// race to take a step converge on the first write, adopting it.
//
// A plugged-in CA is reloaded when PluggedCertsDir changes (fsnotify,
// including a volume's ..data swap and a directory created after the start,
// plus a check every ReloadInterval) or the store's cacerts Secret does.
// The new set is verified first; a bad one is refused (logged once, counted
// in bootgraph_ca_reload_failures_total, and the "ca-reload" readiness
// check says why) and the old set keeps signing. A new set whose root is
// not trusted yet goes through the same overlap as a re-key (in memory: a
// restart during it starts with the new set).
//
// # Callers
//
// A refused caller gets istiod's answer, "request authenticate failure",
// and nothing more; the reason goes to the log (sampled) and to
// citadel_server_authentication_failure_count and
// bootgraph_ca_authentication_failures_total{reason}. A request with the
// ImpersonatedIdentity metadata (ztunnel's) is refused unless the caller
// is one of TrustedNodeAccounts, and in Kubernetes mode unless the
// identity has a pod on the caller's node (NodeAuthorizer).
//
// Every file the CA reads is read bounded (internal/pemutil): regular
// files only, at most 1 MiB, keys and tokens private to their owner, key
// directories not writable by others. Loose permissions are refused, not
// fixed. The self-signed root is stored as one generation, so a crash while
// it is first written never leaves a usable but inconsistent set.
package ca
