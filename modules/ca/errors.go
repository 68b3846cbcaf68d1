package ca

import "errors"

// ErrorKind classifies a signing failure. The values are istiod's labels of
// citadel_server_csr_sign_err_count, and each maps to one gRPC status code.
type ErrorKind string

// Signing failure kinds.
const (
	ErrCANotReady ErrorKind = "CA_NOT_READY"   // gRPC Internal
	ErrCSR        ErrorKind = "CSR_ERROR"      // gRPC InvalidArgument
	ErrTTL        ErrorKind = "TTL_ERROR"      // gRPC InvalidArgument
	ErrCertGen    ErrorKind = "CERT_GEN_ERROR" // gRPC Internal
	ErrNoIdentity ErrorKind = "IDENTITY_ERROR" // gRPC InvalidArgument
	// ErrSignerNotValid: the signing certificate or one of its issuers has
	// expired or is not valid yet, so nothing can be issued until the CA is
	// rotated (or the clock fixed). istiod has no label for it.
	ErrSignerNotValid ErrorKind = "CA_CERT_NOT_VALID" // gRPC FailedPrecondition
	// ErrRequest: a request field other than the CSR is out of bounds.
	ErrRequest     ErrorKind = "REQUEST_ERROR" // gRPC InvalidArgument
	errKindUnknown ErrorKind = ""
)

// SignError is returned by CA.Sign; Kind says what went wrong.
type SignError struct {
	Kind ErrorKind
	Err  error
}

func (e *SignError) Error() string { return string(e.Kind) + ": " + e.Err.Error() }
func (e *SignError) Unwrap() error { return e.Err }

// KindOf returns the ErrorKind of err, or "" when err is not a SignError.
func KindOf(err error) ErrorKind {
	var se *SignError
	if errors.As(err, &se) {
		return se.Kind
	}
	return errKindUnknown
}

func signErr(kind ErrorKind, err error) error { return &SignError{Kind: kind, Err: err} }
