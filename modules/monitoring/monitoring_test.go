package monitoring_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/monitoring"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeListener is a component.Listener whose readiness the test sets.
type fakeListener struct {
	name, addr string

	mu  sync.Mutex
	err error
}

func (f *fakeListener) Name() string { return f.name }
func (f *fakeListener) Addr() string { return f.addr }
func (f *fakeListener) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeListener) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// start runs a monitoring server on 127.0.0.1:0, stopped when the test
// ends; the returned stop is its Stop, for tests that stop it earlier.
func start(t *testing.T, gatherer prometheus.Gatherer, listeners ...component.Listener) (*monitoring.Server, func(context.Context) error) {
	t.Helper()
	s := monitoring.NewServer(monitoring.Options{Addr: "127.0.0.1:0"}, zap.NewNop(), gatherer, listeners)
	testutil.Start(t, s)
	return s, s.Stop
}

// client never keeps connections, so no transport goroutine outlives a test.
var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestReady(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		errs       []error // one listener per element
		wantStatus int
		wantBody   []string
	}{
		{"no listeners", nil, http.StatusOK, []string{"ready\n"}},
		{"all ready", []error{nil, nil}, http.StatusOK, []string{"ready\n"}},
		{"one not ready", []error{nil, errors.New("secure-grpc 127.0.0.1:15012: not listening")},
			http.StatusServiceUnavailable, []string{"not ready: ", "secure-grpc 127.0.0.1:15012: not listening"}},
		{"two not ready, one line", []error{errors.New("alpha: not listening"), nil, errors.New("beta: serving certificate expired")},
			http.StatusServiceUnavailable, []string{"not ready: alpha: not listening; beta: serving certificate expired\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var listeners []component.Listener
			for _, err := range tt.errs {
				listeners = append(listeners, &fakeListener{name: "fake", addr: "127.0.0.1:1", err: err})
			}
			s, _ := start(t, nil, listeners...)

			code, body := get(t, http.MethodGet, "http://"+s.Addr()+"/ready")

			assert.Equal(t, tt.wantStatus, code)
			for _, want := range tt.wantBody {
				assert.Contains(t, body, want)
			}
			if tt.wantStatus == http.StatusOK {
				assert.Equal(t, "ready\n", body)
				assert.NoError(t, s.Ready(context.Background()))
			} else {
				assert.Error(t, s.Ready(context.Background()))
			}
		})
	}
}

func TestReadyFollowsListeners(t *testing.T) {
	t.Parallel()
	l := &fakeListener{name: "secure-grpc", addr: "127.0.0.1:15012", err: errors.New("secure-grpc 127.0.0.1:15012: not listening")}
	s, _ := start(t, nil, l)
	url := "http://" + s.Addr() + "/ready"

	code, body := get(t, http.MethodGet, url)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "not listening")

	l.setErr(nil)
	code, body = get(t, http.MethodGet, url)
	assert.Equal(t, http.StatusOK, code, "readiness is evaluated per request")
	assert.Equal(t, "ready\n", body)

	l.setErr(errors.New("serving certificate expired at 2020-01-01T00:00:00Z"))
	code, body = get(t, http.MethodGet, url)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "expired at 2020-01-01T00:00:00Z")
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "bootgraph_test_events_total", Help: "Events seen by the test."})
	reg.MustRegister(counter)
	counter.Add(3)
	s, _ := start(t, reg)
	s.Handle("GET /debug/hello", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	base := "http://" + s.Addr()

	tests := []struct {
		name, method, path string
		wantStatus         int
		wantBody           string
	}{
		{"healthz", http.MethodGet, "/healthz", http.StatusOK, "ok"},
		{"metrics exposes the gatherer's counter", http.MethodGet, "/metrics", http.StatusOK, "bootgraph_test_events_total 3"},
		{"metrics help text", http.MethodGet, "/metrics", http.StatusOK, "# HELP bootgraph_test_events_total Events seen by the test."},
		{"added handler", http.MethodGet, "/debug/hello", http.StatusOK, "hello"},
		{"ready is GET only", http.MethodPost, "/ready", http.StatusMethodNotAllowed, ""},
		{"unknown path", http.MethodGet, "/nope", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, body := get(t, tt.method, base+tt.path)
			assert.Equal(t, tt.wantStatus, code)
			assert.Contains(t, body, tt.wantBody)
		})
	}
}

func TestMetricsWithoutGatherer(t *testing.T) {
	t.Parallel()
	s, _ := start(t, nil)

	code, body := get(t, http.MethodGet, "http://"+s.Addr()+"/metrics")

	assert.Equal(t, http.StatusOK, code)
	assert.NotContains(t, body, "go_goroutines", "a nil gatherer exports nothing, not the global registry")
}

func TestStartAddressInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().String()
	s := monitoring.NewServer(monitoring.Options{Addr: addr}, zap.NewNop(), nil, nil)

	err = s.Start(context.Background())

	require.Error(t, err)
	assert.Contains(t, err.Error(), "monitoring")
	assert.Contains(t, err.Error(), addr)
}

func TestAddr(t *testing.T) {
	t.Parallel()
	s := monitoring.NewServer(monitoring.Options{Addr: "127.0.0.1:0"}, zap.NewNop(), nil, nil)
	assert.Equal(t, "127.0.0.1:0", s.Addr(), "before Start, Addr is the configured address")

	require.NoError(t, s.Start(context.Background()))
	defer func() { assert.NoError(t, s.Stop(context.Background())) }()

	assert.NotEqual(t, "127.0.0.1:0", s.Addr())
	assert.True(t, strings.HasPrefix(s.Addr(), "127.0.0.1:"), s.Addr())
	code, _ := get(t, http.MethodGet, "http://"+s.Addr()+"/healthz")
	assert.Equal(t, http.StatusOK, code)
}

func TestStopStopsServing(t *testing.T) {
	t.Parallel()
	s, stop := start(t, nil)
	addr := s.Addr()
	code, _ := get(t, http.MethodGet, "http://"+addr+"/healthz")
	require.Equal(t, http.StatusOK, code)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, stop(ctx))

	resp, err := client.Get("http://" + addr + "/healthz")
	if err == nil {
		resp.Body.Close()
	}
	assert.Error(t, err, "no longer serving after Stop")
	_, err = net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "the port is closed after Stop")
}

// A stop whose context is done closes the active connections at once: a
// normal end, logged as a warning.
func TestStopExpiredContextClosesActiveConnections(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	core, logs := observer.New(zapcore.WarnLevel)
	s := monitoring.NewServer(monitoring.Options{Addr: "127.0.0.1:0"}, zap.New(core), nil, nil)
	s.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	require.NoError(t, s.Start(context.Background()))
	defer close(release)
	result := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://" + s.Addr() + "/slow")
		if err == nil {
			resp.Body.Close()
		}
		result <- err
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never arrived")
	}
	expired, cancel := context.WithCancel(context.Background())
	cancel()

	require.NoError(t, s.Stop(expired))
	assert.Equal(t, 1, logs.FilterMessage("drain deadline passed; closing remaining connections").Len())
	select {
	case err := <-result:
		assert.Error(t, err, "the active request was cut off")
	case <-time.After(10 * time.Second):
		t.Fatal("the active request survived Stop")
	}
}

func TestModule(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "bootgraph_test_module_gauge", Help: "Set by the test."}))
	l := &fakeListener{name: "fake", addr: "127.0.0.1:1", err: errors.New("fake: warming up")}
	var s *monitoring.Server
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		fx.Supply(fx.Annotate(reg, fx.As(new(prometheus.Gatherer)))),
		fx.Provide(func() component.ListenerOut { return component.ListenerOut{Listener: l} }),
		monitoring.Module(monitoring.Options{Addr: "127.0.0.1:0"}),
		fx.Populate(&s),
	)
	app.RequireStart()
	defer app.RequireStop()

	code, body := get(t, http.MethodGet, "http://"+s.Addr()+"/ready")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "fake: warming up", "the module reads the bootgraph.listeners group")

	l.setErr(nil)
	code, _ = get(t, http.MethodGet, "http://"+s.Addr()+"/ready")
	assert.Equal(t, http.StatusOK, code)

	code, body = get(t, http.MethodGet, "http://"+s.Addr()+"/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "bootgraph_test_module_gauge 0", "the module serves the supplied gatherer")
}

func TestModuleWithoutGatherer(t *testing.T) {
	t.Parallel()
	var s *monitoring.Server
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		monitoring.Module(monitoring.Options{Addr: "127.0.0.1:0"}),
		fx.Populate(&s),
	)
	app.RequireStart()
	defer app.RequireStop()

	code, _ := get(t, http.MethodGet, "http://"+s.Addr()+"/metrics")
	assert.Equal(t, http.StatusOK, code, "the gatherer is optional")
	code, _ = get(t, http.MethodGet, "http://"+s.Addr()+"/ready")
	assert.Equal(t, http.StatusOK, code, "no listeners: ready")
}

func TestOptionsSetDefaults(t *testing.T) {
	t.Parallel()
	o := monitoring.Options{}
	o.SetDefaults()
	assert.Equal(t, monitoring.DefaultAddr, o.Addr)
	assert.Equal(t, "127.0.0.1:15014", o.Addr)
	o = monitoring.Options{Addr: ":9999"}
	o.SetDefaults()
	assert.Equal(t, ":9999", o.Addr)
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	o := monitoring.Options{}
	assert.ErrorContains(t, o.Validate(), "addr: must not be empty", "errors are relative to the options")
	o = monitoring.Options{Addr: "15014"}
	assert.ErrorContains(t, o.Validate(), `addr: "15014" is not host:port`)
	o.SetDefaults()
	assert.ErrorContains(t, o.Validate(), "addr:", "SetDefaults keeps a set address")
	o = monitoring.Options{}
	o.SetDefaults()
	assert.NoError(t, o.Validate())
}

func TestModuleInvalidOptions(t *testing.T) {
	t.Parallel()
	err := fx.New(fx.NopLogger, fx.Provide(zap.NewNop), monitoring.Module(monitoring.Options{Addr: "15014"})).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `monitoring part: monitoring.Options.Addr: "15014" is not host:port`)
}

// Stop is safe before Start and twice: it returns instead of waiting for a
// server that never ran.
func TestStopWithoutStart(t *testing.T) {
	s := monitoring.NewServer(monitoring.Options{Addr: "127.0.0.1:0"}, zap.NewNop(), nil, nil)
	require.NoError(t, s.Stop(context.Background()))
	require.NoError(t, s.Start(context.Background()))
	require.NoError(t, s.Stop(context.Background()))
	require.NoError(t, s.Stop(context.Background()))
}
