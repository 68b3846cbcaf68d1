package kube_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
)

// fault makes requests to the API server fail at the HTTP layer, as a
// flaky network or an overloaded API server would, for a client of the
// real API server: the code under test sees what client-go makes of it.
type fault struct {
	// method and path choose the requests: the HTTP method, and a
	// substring of the URL's path ("/secrets/cacerts").
	method, path string
	// times is how many of them fail, from the first; 0 means all.
	times int
	// status is answered instead of the server's answer, as the Status
	// body the API server writes, so that client-go makes the apierrors
	// type of its reason of it. Without it the request fails in
	// transport: err is returned.
	status *apierrors.StatusError
	err    error
	// lost sends the request and loses its answer: the server did the
	// work, the client sees err.
	lost bool
}

// faultyTransport applies faults to the requests of one client.
type faultyTransport struct {
	next   http.RoundTripper
	faults []fault

	mu   sync.Mutex
	seen []int // matching requests so far, per fault
}

// faultyAPI is a kubeapi client for cfg's API server whose requests fail
// as faults say; the first fault that matches a request applies to it.
func faultyAPI(t *testing.T, cfg *rest.Config, faults ...fault) *kubeapi.Client {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return &faultyTransport{next: rt, faults: faults, seen: make([]int, len(faults))}
	}
	client, err := kubeapi.New(cfg)
	require.NoError(t, err)
	return client
}

// match returns the fault that applies to req, nil when none does.
func (ft *faultyTransport) match(req *http.Request) *fault {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for i := range ft.faults {
		f := &ft.faults[i]
		if req.Method != f.method || !strings.Contains(req.URL.Path, f.path) {
			continue
		}
		ft.seen[i]++
		if f.times > 0 && ft.seen[i] > f.times {
			continue
		}
		return f
	}
	return nil
}

func (ft *faultyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f := ft.match(req)
	switch {
	case f == nil:
		return ft.next.RoundTrip(req)
	case f.lost:
		resp, err := ft.next.RoundTrip(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		return nil, f.err
	}
	if req.Body != nil { // a RoundTripper closes the body, even when it fails
		_ = req.Body.Close()
	}
	if f.status == nil {
		return nil, f.err
	}
	return statusResponse(req, f.status.ErrStatus), nil
}

// statusResponse is the API server's answer for a failed request: a
// metav1.Status with its code.
func statusResponse(req *http.Request, st metav1.Status) *http.Response {
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	st.Status = metav1.StatusFailure
	body, err := json.Marshal(st)
	if err != nil {
		panic(fmt.Sprintf("test: encode a Status: %v", err)) // a metav1.Status always encodes
	}
	return &http.Response{
		Status:        strconv.Itoa(int(st.Code)) + " " + http.StatusText(int(st.Code)),
		StatusCode:    int(st.Code),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}
