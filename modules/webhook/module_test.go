package webhook_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// greeting is something of the graph that a provided handler needs.
type greeting string

// moduleClient is an HTTPS client that trusts roots and checks the name
// "localhost".
func moduleClient(t *testing.T, rootsPEM []byte) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(rootsPEM))
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}, ForceAttemptHTTP2: true}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, Timeout: 10 * time.Second}
}

// Handlers join the server through Handle, HandleAdmission and
// ProvideHandler, and each is reachable over TLS once the plane started.
func TestModule(t *testing.T) {
	c := testutil.NewCA(t)
	bundle := testutil.NewBundle(t, c)
	var (
		s         *webhook.Server
		listeners []component.Listener
	)
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(bundle, greeting("hello from the graph")),
		fx.Provide(zap.NewNop),
		webhook.Handle("/plain", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "plain handler")
		})),
		webhook.HandleAdmission("/validate", denyPrivileged),
		webhook.ProvideHandler(func(g greeting) webhook.Handler {
			return webhook.Handler{Path: "/provided", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, string(g))
			})}
		}),
		webhook.Module(webhook.Options{Addr: "127.0.0.1:0"}),
		fx.Populate(&s),
		fx.Invoke(func(in component.ListenersIn) { listeners = in.Listeners }),
	)
	require.ErrorContains(t, s.Ready(context.Background()), "not listening", "not listening before OnStart")
	app.RequireStart()
	require.NoError(t, s.Ready(context.Background()))
	require.Len(t, listeners, 1)
	assert.Same(t, s, listeners[0], "the server joins bootgraph.listeners")

	client := moduleClient(t, c.RootPEM())
	base := "https://" + s.Addr()
	get := func(path string) (int, string) {
		resp, err := client.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, body := get("/plain")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "plain handler", body, "joined through Handle")
	code, body = get("/provided")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "hello from the graph", body, "joined through ProvideHandler, built from the graph")
	code, body = get("/ready")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready\n", body)

	for _, tt := range []struct {
		labels  map[string]string
		allowed bool
	}{{nil, true}, {map[string]string{"privileged": "true"}, false}} {
		resp, err := client.Post(base+"/validate", "application/json", bytes.NewReader(review(t, "module-uid", tt.labels)))
		require.NoError(t, err)
		var got admissionv1.AdmissionReview
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotNil(t, got.Response, "joined through HandleAdmission")
		assert.Equal(t, tt.allowed, got.Response.Allowed)
	}

	client.CloseIdleConnections() // else HTTP/2 waits a second for the client after GOAWAY
	app.RequireStop()
	assert.ErrorContains(t, s.Ready(context.Background()), "not listening", "OnStop closed the listener")
}

// Mistakes in what joins the server fail the composition before anything
// runs, naming what is wrong.
func TestModuleHandlerErrors(t *testing.T) {
	bundle := testutil.NewBundle(t, testutil.NewCA(t))
	compose := func(extra ...fx.Option) error {
		return fx.New(append([]fx.Option{
			fx.NopLogger,
			fx.Supply(bundle),
			fx.Provide(zap.NewNop),
			webhook.Module(webhook.Options{Addr: "127.0.0.1:0"}),
		}, extra...)...).Err()
	}
	h := http.NotFoundHandler()

	err := compose(webhook.Handle("/a", h), webhook.Handle("/a", h))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `webhook handler "/a": path already taken`)

	err = compose(webhook.Handle("/ready", h))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `webhook handler "/ready"`)

	err = compose(webhook.Handle("relative", h))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `webhook handler "relative"`)

	err = compose(webhook.ProvideHandler(func() (webhook.Handler, error) {
		return webhook.Handler{}, errors.New("no handler today")
	}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no handler today")

	for _, ctor := range []any{nil, h, func() {}, func() http.Handler { return h }} {
		err := compose(webhook.ProvideHandler(ctor))
		require.Error(t, err, "%T", ctor)
		assert.Contains(t, err.Error(), "webhook.ProvideHandler: want a constructor returning webhook.Handler")
	}
}

// Invalid options make the composition fail naming the Go fields.
func TestModuleInvalidOptions(t *testing.T) {
	err := fx.New(fx.NopLogger,
		fx.Supply(servingcert.NewBundle()),
		fx.Provide(zap.NewNop),
		webhook.Module(webhook.Options{MaxRequestBytes: -1, Patch: webhook.PatchOptions{LabelSelector: "a in ("}}),
	).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "webhook part: ")
	assert.Contains(t, err.Error(), "webhook.Options.MaxRequestBytes: -1 must be positive")
	assert.Contains(t, err.Error(), `webhook.Options.Patch.LabelSelector: "a in ("`)
	var optsErr *component.OptionsError
	require.ErrorAs(t, err, &optsErr)
	assert.Equal(t, "webhook", optsErr.Part)
}
