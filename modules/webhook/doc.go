// Package webhook is the HTTPS admission-webhook listener (istiod's port
// 15017) as an fx module.
//
// The server presents the serving bundle's certificate (read per handshake,
// so a renewed certificate needs no restart), requires TLS 1.2 or later and
// asks for no client certificate. Handlers join through the
// "webhook.handlers" value group, each with its own path; /ready reports this
// listener's own readiness.
//
// Admission wraps a typed function,
//
//	func(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse
//
// into an http.Handler that decodes admission.k8s.io/v1 AdmissionReview
// requests and encodes the response, answering malformed bodies, wrong
// content types, oversized bodies and unknown API versions with a clear 4xx.
package webhook
