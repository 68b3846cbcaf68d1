package webhook_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// denyPrivileged allows everything but objects labelled privileged=true.
func denyPrivileged(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	var obj metav1.PartialObjectMetadata
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: err.Error(), Code: 400}}
	}
	if obj.Labels["privileged"] == "true" {
		return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Message: "privileged objects are not allowed", Code: 403}}
	}
	return &admissionv1.AdmissionResponse{Allowed: true}
}

func review(t testing.TB, uid string, labels map[string]string) []byte {
	t.Helper()
	obj, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "x", "namespace": "default", "labels": labels}})
	require.NoError(t, err)
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: types.UID(uid), Operation: admissionv1.Create,
			Kind:   metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
			Object: runtime.RawExtension{Raw: obj},
		},
	})
	require.NoError(t, err)
	return body
}

func post(t *testing.T, f *fixture, path, contentType string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := f.client.Post(f.url(path), contentType, bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

func TestAdmissionRoundTrip(t *testing.T) {
	f := start(t, webhook.Options{}, webhook.Handler{Path: "/validate", Handler: webhook.Admission(denyPrivileged)})
	for _, tt := range []struct {
		uid     string
		labels  map[string]string
		allowed bool
	}{
		{"uid-allowed", nil, true},
		{"uid-denied", map[string]string{"privileged": "true"}, false},
	} {
		code, body := post(t, f, "/validate", "application/json", review(t, tt.uid, tt.labels))
		require.Equal(t, http.StatusOK, code, string(body))
		var got admissionv1.AdmissionReview
		require.NoError(t, json.Unmarshal(body, &got))
		assert.Equal(t, "admission.k8s.io/v1", got.APIVersion)
		assert.Equal(t, "AdmissionReview", got.Kind)
		require.NotNil(t, got.Response)
		assert.Equal(t, types.UID(tt.uid), got.Response.UID, "response carries the request's UID")
		assert.Equal(t, tt.allowed, got.Response.Allowed)
	}
}

func TestAdmissionBadRequests(t *testing.T) {
	panics := webhook.Admission(func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse { panic("boom") })
	returnsNil := webhook.Admission(func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse { return nil })
	f := start(t, webhook.Options{MaxRequestBytes: 64 << 10},
		webhook.Handler{Path: "/validate", Handler: webhook.Admission(denyPrivileged)},
		webhook.Handler{Path: "/panics", Handler: panics},
		webhook.Handler{Path: "/nil", Handler: returnsNil},
	)
	valid := review(t, "u", nil)
	v1beta1 := bytes.Replace(valid, []byte(`"admission.k8s.io/v1"`), []byte(`"admission.k8s.io/v1beta1"`), 1)
	noRequest := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`)
	huge := append([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"`), bytes.Repeat([]byte("a"), 128<<10)...)

	tests := []struct {
		name, path, contentType string
		body                    []byte
		wantCode                int
		wantMsg                 string
	}{
		{"malformed JSON", "/validate", "application/json", []byte(`{"apiVersion":`), 400, "malformed AdmissionReview"},
		{"not JSON at all", "/validate", "application/json", []byte("\x00\x01garbage"), 400, "malformed AdmissionReview"},
		{"wrong content type", "/validate", "text/plain", valid, 415, "want application/json"},
		{"no content type", "/validate", "", valid, 415, "want application/json"},
		{"oversized body", "/validate", "application/json", huge, 413, "larger than 65536 bytes"},
		{"v1beta1", "/validate", "application/json", v1beta1, 400, "unsupported admission.k8s.io/v1beta1 AdmissionReview"},
		{"wrong kind", "/validate", "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{}}`), 400, "want admission.k8s.io/v1 AdmissionReview"},
		{"no request", "/validate", "application/json", noRequest, 400, "no request"},
		{"handler panics", "/panics", "application/json", valid, 500, "panicked: boom"},
		{"handler returns nil", "/nil", "application/json", valid, 500, "no response"},
		{"charset is fine", "/validate", "application/json; charset=utf-8", valid, 200, `"allowed":true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(t, f, tt.path, tt.contentType, tt.body)
			assert.Equal(t, tt.wantCode, code, string(body))
			assert.Contains(t, string(body), tt.wantMsg)
		})
	}

	resp, err := f.client.Get(f.url("/validate"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	// The server survived all of the above.
	code, _ := post(t, f, "/validate", "application/json", valid)
	assert.Equal(t, http.StatusOK, code)
}

func TestHandlerTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	f := start(t, webhook.Options{HandlerTimeout: 50 * 1e6}, webhook.Handler{Path: "/slow", Handler: slow})
	code, body := post(t, f, "/slow", "application/json", []byte("{}"))
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, string(body), "timed out")
}

func TestReadyAndTLS(t *testing.T) {
	f := start(t, webhook.Options{})
	resp, err := f.client.Get(f.url("/ready"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ready\n", string(body))
	assert.Equal(t, "HTTP/2.0", resp.Proto, "HTTP/2 over TLS")
	assert.Equal(t, webhook.Name, f.server.Name())
	require.NoError(t, f.server.Ready(context.Background()))

	// TLS 1.1 is refused.
	_, err = tls.Dial("tcp", f.server.Addr(), &tls.Config{MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}) //nolint:gosec // probing the server's floor
	require.Error(t, err)
}

// A new serving certificate is presented on the next handshake, without a
// restart.
func TestServingCertHotReload(t *testing.T) {
	f := start(t, webhook.Options{})
	serial := func() string {
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(f.ca.RootPEM())
		conn, err := tls.Dial("tcp", f.server.Addr(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
		require.NoError(t, err)
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	chain, key, err := f.ca.GenKeyCert([]string{"localhost"}, time.Hour)
	require.NoError(t, err)
	require.NoError(t, f.bundle.Set(chain, key, f.ca.RootPEM()))
	after := serial()
	assert.NotEqual(t, before, after)
	assert.Equal(t, f.bundle.Leaf().SerialNumber.String(), after)
}

func TestNewServerErrors(t *testing.T) {
	b := testutil.NewBundle(t, testutil.NewCA(t))
	h := http.NotFoundHandler()
	tests := map[string][]webhook.Handler{
		"duplicate path":  {{Path: "/a", Handler: h}, {Path: "/a", Handler: h}},
		"reserved /ready": {{Path: "/ready", Handler: h}},
		"relative path":   {{Path: "a", Handler: h}},
		"nil handler":     {{Path: "/a"}},
	}
	for name, handlers := range tests {
		t.Run(name, func(t *testing.T) {
			opts := webhook.Options{}
			opts.SetDefaults()
			_, err := webhook.NewServer(opts, b, zap.NewNop(), handlers)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "webhook handler")
		})
	}
}

func TestStartErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	opts := webhook.Options{Addr: taken.Addr().String()}
	opts.SetDefaults()
	s, err := webhook.NewServer(opts, testutil.NewBundle(t, testutil.NewCA(t)), zap.NewNop(), nil)
	require.NoError(t, err)
	require.ErrorContains(t, s.Ready(context.Background()), "not listening")
	err = s.Start(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), webhook.Name)
	assert.Contains(t, err.Error(), taken.Addr().String())
	require.NoError(t, s.Stop(context.Background()), "Stop after a failed Start")
}

func TestOptionsValidate(t *testing.T) {
	opts := webhook.Options{MaxRequestBytes: -1, IdleTimeout: -1}
	opts.SetDefaults()
	err := opts.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "maxRequestBytes: -1 must be positive")
	assert.Contains(t, err.Error(), "idleTimeout: -1ns must be positive")
	assert.NotContains(t, err.Error(), "webhook.", "errors are relative to the options")
	empty := webhook.Options{}
	assert.ErrorContains(t, empty.Validate(), "addr: must not be empty")
	ok := webhook.Options{}
	ok.SetDefaults()
	require.NoError(t, ok.Validate())
	assert.Equal(t, webhook.DefaultAddr, ok.Addr)
}

// A real client this project did not write: curl --cacert.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl not installed; .ci/run installs it")
		}
		t.Skip("curl not installed: apt-get install -y curl")
	}
	f := start(t, webhook.Options{}, webhook.Handler{Path: "/validate", Handler: webhook.Admission(denyPrivileged)})
	rootFile := filepath.Join(t.TempDir(), "root.pem")
	require.NoError(t, os.WriteFile(rootFile, f.ca.RootPEM(), 0o600))
	_, port, _ := net.SplitHostPort(f.server.Addr())
	cmd := exec.Command(curl, "-sS", "--fail-with-body", "--cacert", rootFile,
		"--resolve", "localhost:"+port+":127.0.0.1",
		"-H", "Content-Type: application/json", "--data-binary", "@-",
		"https://localhost:"+port+"/validate")
	cmd.Stdin = bytes.NewReader(review(t, "curl-uid", map[string]string{"privileged": "true"}))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.True(t, strings.Contains(string(out), `"uid":"curl-uid"`), string(out))
	assert.Contains(t, string(out), `"allowed":false`)
	assert.Contains(t, string(out), "privileged objects are not allowed")
}
