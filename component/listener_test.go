package component_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/bootgraph/bootgraph/component"
)

// events records what started and stopped, in order.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
}

func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

// greeter is something a custom listener needs; it starts and stops too.
type greeter struct{ text string }

func newGreeter(lc fx.Lifecycle, ev *events) *greeter {
	lc.Append(fx.StartStopHook(func() { ev.add("greeter start") }, func() { ev.add("greeter stop") }))
	return &greeter{text: "hello"}
}

// helloServer is a program's own listener: plain HTTP saying its
// greeter's text, on the Binding skeleton.
type helloServer struct {
	*component.Binding
	http *http.Server
	ev   *events
}

func newHelloServer(g *greeter, ev *events) *helloServer {
	return &helloServer{
		Binding: component.NewBinding("hello", "127.0.0.1:0", nil),
		http: &http.Server{
			Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, g.text) }),
			ReadHeaderTimeout: 10 * time.Second,
		},
		ev: ev,
	}
}

func (s *helloServer) Start(context.Context) error {
	if err := s.Serve(s.http.Serve); err != nil {
		return err
	}
	s.ev.add("hello start")
	return nil
}

func (s *helloServer) Stop(ctx context.Context) error {
	s.ev.add("hello stop")
	return s.Shutdown(ctx, s.http.Shutdown, http.ErrServerClosed)
}

// otherServer is a Server of another type.
type otherServer struct{ *helloServer }

func hello(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// A listener of a program's own starts after what its constructor needs
// and before what needs every listener, stops in reverse, joins the
// plane's listeners, and starts although nothing asks for it.
func TestListen(t *testing.T) {
	t.Parallel()
	ev := &events{}
	var (
		s         *helloServer
		listeners []component.Listener
	)
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(ev),
		fx.Provide(newGreeter),
		component.Listen[*helloServer](func(g *greeter, ev *events) *helloServer {
			s = newHelloServer(g, ev) // nothing else asks for it
			return s
		}),
		fx.Invoke(func(lc fx.Lifecycle, in component.ListenersIn) {
			listeners = in.Listeners
			lc.Append(fx.StartStopHook(func() { ev.add("after listeners start") }, func() { ev.add("after listeners stop") }))
		}),
	)
	require.NotNil(t, s, "the listener is built although nothing needs it")
	require.Len(t, listeners, 1)
	assert.Same(t, s, listeners[0], "the listener joins bootgraph.listeners")
	require.ErrorContains(t, s.Ready(context.Background()), "hello 127.0.0.1:0: not listening")

	app.RequireStart()
	require.NoError(t, s.Ready(context.Background()))
	assert.Equal(t, "hello", hello(t, s.Addr()))
	app.RequireStop()

	assert.Equal(t, []string{
		"greeter start", "hello start", "after listeners start",
		"after listeners stop", "hello stop", "greeter stop",
	}, ev.get())
	// Stopped with the plane. Not checked by dialing addr: a parallel
	// test's listener may have been given the freed port already.
	assert.ErrorContains(t, s.Ready(context.Background()), "not listening")
}

func TestListenConstructorError(t *testing.T) {
	t.Parallel()
	app := fx.New(fx.NopLogger,
		component.Listen[*helloServer](func() (*helloServer, error) { return nil, errors.New("no hello today") }),
	)
	require.Error(t, app.Err())
	assert.Contains(t, app.Err().Error(), "no hello today")
}

// A listener that cannot bind fails the plane's start, naming itself and
// the address.
func TestListenStartError(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	ev := &events{}
	app := fx.New(fx.NopLogger,
		fx.Supply(ev),
		fx.Provide(newGreeter),
		component.Listen[*helloServer](func(g *greeter, ev *events) *helloServer {
			s := newHelloServer(g, ev)
			s.Binding = component.NewBinding("hello", taken.Addr().String(), nil)
			return s
		}),
	)
	require.NoError(t, app.Err())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = app.Start(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "hello listener on "+taken.Addr().String())
	assert.Equal(t, []string{"greeter start", "greeter stop"}, ev.get(), "what started is stopped")
}

func TestListenRejectsWrongConstructor(t *testing.T) {
	t.Parallel()
	want := "component.Listen[*component_test.helloServer]: want a constructor returning *component_test.helloServer " +
		"or (*component_test.helloServer, error), got "
	for _, tt := range []struct {
		ctor any
		got  string
	}{
		{func() *otherServer { return nil }, "func() *component_test.otherServer"},
		{func() component.Server { return nil }, "func() component.Server"},
		{func() {}, "func()"},
		{newHelloServer(&greeter{}, &events{}), "*component_test.helloServer"},
		{nil, "<nil>"},
	} {
		err := fx.New(fx.NopLogger, component.Listen[*helloServer](tt.ctor)).Err()
		require.Error(t, err, tt.got)
		assert.Contains(t, err.Error(), want+tt.got)
	}
}
