package monitoring_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/monitoring"
)

var short = monitoring.Options{
	Addr:              "127.0.0.1:0",
	ReadHeaderTimeout: component.Duration(300 * time.Millisecond),
	ReadTimeout:       component.Duration(300 * time.Millisecond),
	IdleTimeout:       component.Duration(300 * time.Millisecond),
}

func startWith(t *testing.T, opts monitoring.Options, log *zap.Logger) *monitoring.Server {
	t.Helper()
	if log == nil {
		log = zap.NewNop()
	}
	s := monitoring.NewServer(opts, log, nil, nil)
	testutil.Start(t, s)
	return s
}

func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closedByServer waits until the server closes conn and returns what it
// sent before.
func closedByServer(t *testing.T, conn net.Conn, why string) string {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open (got %q)", why, got)
	}
	return string(got)
}

// Clients that send nothing, trickle their headers, declare a body they
// never send, or keep an idle keep-alive connection are closed after the
// read, header and idle timeouts.
func TestSlowClientsAreCut(t *testing.T) {
	t.Parallel()
	s := startWith(t, short, nil)
	for name, tc := range map[string]struct {
		send     string
		trickle  bool
		wantResp string // a response the server sends before closing
	}{
		"nothing sent":     {},
		"headers trickled": {send: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaa", trickle: true},
		// The handler answers without reading the body; the server then
		// waits for the body to reuse the connection, until readTimeout.
		"declared body never sent": {send: "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", wantResp: "HTTP/1.1 200 OK"},
		"idle keep-alive":          {send: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", wantResp: "HTTP/1.1 200 OK"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn := rawDial(t, s.Addr())
			if tc.trickle {
				go func() {
					for _, b := range []byte(tc.send) {
						if _, err := conn.Write([]byte{b}); err != nil {
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}()
			} else if tc.send != "" {
				_, err := io.WriteString(conn, tc.send)
				require.NoError(t, err)
			}
			got := closedByServer(t, conn, name)
			if tc.wantResp != "" {
				assert.True(t, strings.HasPrefix(got, tc.wantResp), "got %q", got)
			}
		})
	}
}

// A full listener closes its oldest unanswered connection for a new one;
// a scraper's answered keep-alive connection stays.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	s := startWith(t, monitoring.Options{Addr: "127.0.0.1:0", MaxConnections: 3}, nil)
	scraper := rawDial(t, s.Addr())
	r := bufio.NewReader(scraper)
	scrape := func() {
		_, err := io.WriteString(scraper, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(r, nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	scrape()
	var idle []net.Conn
	for range 4 {
		idle = append(idle, rawDial(t, s.Addr()))
	}
	closedByServer(t, idle[0], "the oldest idle connection")
	closedByServer(t, idle[1], "the next oldest")
	scrape()
	code, _ := get(t, http.MethodGet, "http://"+s.Addr()+"/healthz")
	assert.Equal(t, http.StatusOK, code, "a newcomer is served")
}

// Stop with a request in flight returns nil after drainTimeout, having
// closed it and said so.
func TestStopDrainTimeout(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.WarnLevel)
	s := monitoring.NewServer(monitoring.Options{Addr: "127.0.0.1:0", DrainTimeout: component.Duration(200 * time.Millisecond)},
		zap.New(core), nil, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	s.Handle("GET /slow", http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	require.NoError(t, s.Start(context.Background()))
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
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, s.Stop(ctx))
	require.NoError(t, ctx.Err(), "Stop returned within the drain timeout")
	select {
	case err := <-result:
		assert.Error(t, err, "the request in flight was cut")
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight survived Stop")
	}
	assert.Equal(t, 1, logs.FilterMessage("drain deadline passed; closing remaining connections").Len())
}

// The module exports every listener's connection counts, its own too.
func TestListenerMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	lis := component.NewBinding("counted", "127.0.0.1:0", nil)
	lis.LimitConnections(7, nil)
	require.NoError(t, lis.Serve(func(l net.Listener) error {
		for {
			c, err := l.Accept()
			if err != nil {
				return err
			}
			c.Close()
		}
	}))
	defer func() { require.NoError(t, lis.Shutdown(context.Background(), nil, net.ErrClosed)) }()
	var s *monitoring.Server
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Provide(zap.NewNop),
		fx.Supply(fx.Annotate(reg, fx.As(new(prometheus.Gatherer)), fx.As(new(prometheus.Registerer)))),
		fx.Provide(func() component.ListenerOut { return component.ListenerOut{Listener: countedListener{lis}} }),
		monitoring.Module(monitoring.Options{Addr: "127.0.0.1:0"}),
		fx.Populate(&s),
	)
	app.RequireStart()
	defer app.RequireStop()
	c := rawDial(t, lis.Addr())
	closedByServer(t, c, "the counted listener closes each connection")

	code, body := get(t, http.MethodGet, "http://"+s.Addr()+"/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`bootgraph_listener_max_connections{listener="counted"} 7`,
		`bootgraph_listener_accepted_connections_total{listener="counted"} 1`,
		`bootgraph_listener_evicted_connections_total{listener="counted"} 0`,
		`bootgraph_listener_refused_connections_total{listener="counted"} 0`,
		`bootgraph_listener_accept_errors_total{listener="counted"} 0`,
		`bootgraph_listener_max_connections{listener="monitoring"} 1024`,
		`bootgraph_listener_open_connections{listener="monitoring"} 1`,
	} {
		assert.Contains(t, body, want)
	}
}

// countedListener is a component.Listener on a Binding.
type countedListener struct{ *component.Binding }

func TestLimitOptions(t *testing.T) {
	t.Parallel()
	var o monitoring.Options
	o.SetDefaults()
	assert.Equal(t, monitoring.Options{
		Addr:              "127.0.0.1:15014",
		ReadHeaderTimeout: component.Duration(10 * time.Second),
		ReadTimeout:       component.Duration(10 * time.Second),
		IdleTimeout:       component.Duration(90 * time.Second),
		MaxConnections:    1024,
		DrainTimeout:      component.Duration(time.Second),
	}, o)
	require.NoError(t, o.Validate())
	o.MaxConnections, o.ReadTimeout, o.IdleTimeout = -1, -1, 0
	err := o.Validate()
	require.Error(t, err)
	for _, want := range []string{"maxConnections: -1 must be positive", "readTimeout: -1ns must be positive", "idleTimeout: 0s must be positive"} {
		assert.Contains(t, err.Error(), want)
	}
}
