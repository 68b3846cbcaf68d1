package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bootgraph/bootgraph/modules/webhook"
)

// fuzzMaxBody is the body limit of FuzzAdmissionReview's server, small so
// that the fuzzer reaches it.
const fuzzMaxBody = 4 << 10

// FuzzAdmissionReview posts a fuzzed body with a fuzzed content type to an
// admission handler, as the webhook server mounts it (body limit
// included). The handler never panics and never answers 5xx (its AdmitFunc
// neither panics nor returns nil); a request it refuses gets a 4xx with a
// message; a request it accepts was an admission.k8s.io/v1 AdmissionReview
// with a request, and the answer is an AdmissionReview of the same version
// whose response carries the request's UID.
func FuzzAdmissionReview(f *testing.F) {
	good := review(f, "uid-1", nil)
	f.Add("application/json", good)
	f.Add("application/json; charset=utf-8", review(f, "uid-2", map[string]string{"privileged": "true"}))
	f.Add("application/json", append(bytes.Clone(good), " trailing"...))
	f.Add("application/json", bytes.Replace(good, []byte("admission.k8s.io/v1"), []byte("admission.k8s.io/v1beta1"), 1))
	f.Add("application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`))
	f.Add("application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`))
	f.Add("application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}`))
	f.Add("application/json", []byte(`[]`))
	f.Add("application/json", []byte(`null`))
	f.Add("application/json", []byte(``))
	f.Add("application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":{"raw":1}}}`))
	f.Add("application/json", bytes.Repeat([]byte(" "), fuzzMaxBody+1))
	f.Add("text/plain", good)
	f.Add("", good)
	f.Add("application/json; charset", good)
	f.Add("application/yaml", []byte("apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\n"))

	var admitted *admissionv1.AdmissionRequest
	h := webhook.Admission(func(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		admitted = req
		if req == nil {
			panic("Admission called its AdmitFunc without a request")
		}
		return denyPrivileged(ctx, req)
	})
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		codes := map[bool]int{}
		for _, limit := range []bool{false, true} {
			admitted = nil
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
			req.Header.Set("Content-Type", contentType)
			if limit { // as the server mounts handlers: every body limited
				req.Body = http.MaxBytesReader(rec, req.Body, fuzzMaxBody)
			}
			h.ServeHTTP(rec, req)
			out := rec.Body.Bytes()
			switch code := rec.Code; code {
			case http.StatusOK:
				if admitted == nil {
					t.Fatal("200 without a decision")
				}
				checkAdmitted(t, contentType, body, out)
			case http.StatusBadRequest, http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge:
				if admitted != nil {
					t.Fatalf("refused with %d after the AdmitFunc saw the request", code)
				}
				if len(bytes.TrimSpace(out)) == 0 {
					t.Fatalf("%d without a message", code)
				}
			default:
				t.Fatalf("answered %d: %s", code, out)
			}
			codes[limit] = rec.Code
		}
		if codes[false] == http.StatusRequestEntityTooLarge {
			t.Fatal("413 without a body limit")
		}
		if codes[true] == http.StatusRequestEntityTooLarge && len(body) <= fuzzMaxBody {
			t.Fatalf("413 for a %d-byte body under the %d-byte limit", len(body), fuzzMaxBody)
		}
		if codes[true] != codes[false] && codes[true] != http.StatusRequestEntityTooLarge {
			t.Fatalf("the body limit changed the answer from %d to %d", codes[false], codes[true])
		}
	})
}

// checkAdmitted asserts what an admitted request and its answer must be.
func checkAdmitted(t *testing.T, contentType string, body, out []byte) {
	t.Helper()
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/json" {
		t.Fatalf("admitted content type %q", contentType)
	}
	var in admissionv1.AdmissionReview
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&in); err != nil {
		t.Fatalf("admitted a body that does not decode: %v", err)
	}
	if in.APIVersion != "admission.k8s.io/v1" || in.Kind != "AdmissionReview" || in.Request == nil {
		t.Fatalf("admitted %s %s with request %v", in.APIVersion, in.Kind, in.Request != nil)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.DisallowUnknownFields()
	var answer admissionv1.AdmissionReview
	if err := dec.Decode(&answer); err != nil {
		t.Fatalf("the answer is not an AdmissionReview: %v\n%s", err, out)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("the answer has more than one JSON value: %s", out)
	}
	if answer.TypeMeta != (metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}) {
		t.Fatalf("answered with %v", answer.TypeMeta)
	}
	if answer.Request != nil || answer.Response == nil || answer.Response.UID != in.Request.UID {
		t.Fatalf("the answer's response %v is not for request %q", answer.Response, in.Request.UID)
	}
	if !answer.Response.Allowed && (answer.Response.Result == nil || strings.TrimSpace(answer.Response.Result.Message) == "") {
		t.Fatal("denied without a reason")
	}
}
