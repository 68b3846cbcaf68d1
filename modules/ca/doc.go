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
//     ca-key.pem, cert-chain.pem, root-cert.pem), verified at load.
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
// Every file the CA reads is read bounded (internal/pemutil): regular
// files only, at most 1 MiB, keys and tokens private to their owner, key
// directories not writable by others. Loose permissions are refused, not
// fixed. The self-signed root is stored as one generation, so a crash while
// it is first written never leaves a usable but inconsistent set.
package ca
