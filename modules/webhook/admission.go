package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
)

// AdmitFunc decides one admission request. It returns the response without
// UID: Admission copies the request's UID into it.
type AdmitFunc func(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse

// admissionAPIVersion is the only AdmissionReview version served; the API
// server sends it first when a webhook lists it in admissionReviewVersions.
var admissionAPIVersion = admissionv1.SchemeGroupVersion.String()

// Admission serves fn as an admission webhook: POST with an
// admission.k8s.io/v1 AdmissionReview in JSON, answered with an
// AdmissionReview carrying fn's response. Bad requests get a 4xx with a
// message saying what was expected; a handler that panics or returns nil
// gets a 500, and the server goes on.
func Admission(fn AdmitFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		review, status, err := decodeReview(w, r)
		if err != nil {
			http.Error(w, err.Error(), status)
			return
		}
		resp, err := admit(r.Context(), fn, review.Request)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp.UID = review.Request.UID
		out, err := json.Marshal(&admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
		if err != nil {
			http.Error(w, "encode AdmissionReview: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out) // a client gone mid-answer has nothing to learn from us
	})
}

// decodeReview reads and checks an AdmissionReview request, returning the
// HTTP status to answer with when it is not acceptable.
func decodeReview(w http.ResponseWriter, r *http.Request) (*admissionv1.AdmissionReview, int, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed: an AdmissionReview is POSTed", r.Method)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, http.StatusUnsupportedMediaType,
			fmt.Errorf("content type %q not supported: want application/json", r.Header.Get("Content-Type"))
	}
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", tooLarge.Limit)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("malformed AdmissionReview: %w", err)
	}
	if review.APIVersion != admissionAPIVersion || review.Kind != "AdmissionReview" {
		return nil, http.StatusBadRequest, fmt.Errorf("unsupported %s %s: want %s AdmissionReview",
			orUnset(review.APIVersion), orUnset(review.Kind), admissionAPIVersion)
	}
	if review.Request == nil {
		return nil, http.StatusBadRequest, errors.New("AdmissionReview has no request")
	}
	return &review, 0, nil
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// admit runs fn, turning a panic or a nil response into an error.
func admit(ctx context.Context, fn AdmitFunc, req *admissionv1.AdmissionRequest) (resp *admissionv1.AdmissionResponse, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("admission handler panicked: %v", p)
		}
	}()
	if resp = fn(ctx, req); resp == nil {
		return nil, errors.New("admission handler returned no response")
	}
	return resp, nil
}
