package component_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bootgraph/bootgraph/component"
)

// lineServer is a listener on the Binding skeleton that answers "hello"
// with "hi", its connection busy meanwhile and answered after, as a real
// server tells its binding; "hold" makes the connection busy until
// "release".
type lineServer struct {
	*component.Binding
	accepted chan string // remote address of each accepted connection

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startLineServer(t *testing.T, max int, log *zap.Logger) *lineServer {
	t.Helper()
	s := &lineServer{Binding: component.NewBinding("lines", "127.0.0.1:0", nil),
		accepted: make(chan string, 100), conns: map[net.Conn]struct{}{}}
	s.LimitConnections(max, log)
	require.NoError(t, s.Serve(s.serve))
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background(), s.stop, net.ErrClosed)) })
	return s
}

func (s *lineServer) serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.accepted <- c.RemoteAddr().String()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				remote := c.RemoteAddr().String()
				switch strings.TrimSpace(line) {
				case "hello":
					s.ConnBusy(remote)
					s.ConnIdle(remote, true) // before the client can see the answer
				case "hold":
					s.ConnBusy(remote)
				case "release":
					s.ConnIdle(remote, true)
				default:
					continue
				}
				if _, err := io.WriteString(c, "hi\n"); err != nil {
					return
				}
			}
		}()
	}
}

// stop closes the listener and every open connection, then waits for
// their goroutines.
func (s *lineServer) stop(context.Context) error {
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// dial connects and waits until the server accepted the connection.
func (s *lineServer) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr(), 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	select {
	case remote := <-s.accepted:
		require.Equal(t, c.LocalAddr().String(), remote, "accepted in order")
	case <-time.After(10 * time.Second):
		t.Fatal("the server never accepted the connection")
	}
	return c
}

// sayHello sends "hello" on c and wants "hi" back.
func sayHello(t *testing.T, c net.Conn) { say(t, c, "hello") }

// say sends a command on c and wants "hi" back.
func say(t *testing.T, c net.Conn, command string) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err := io.WriteString(c, command+"\n")
	require.NoError(t, err)
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "hi\n", line)
}

// wantClosed waits until the server closed c.
func wantClosed(t *testing.T, c net.Conn, why string) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := c.Read(make([]byte, 1))
	require.Error(t, err, why)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the connection is still open", why)
	}
}

// A full listener closes the oldest connection that was never answered:
// idle clients go first, answered ones stay, and each newcomer gets in.
func TestBindingLimitEvictsOldestUnserved(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.InfoLevel)
	s := startLineServer(t, 3, zap.New(core))

	idle1, idle2 := s.dial(t), s.dial(t)
	served := s.dial(t)
	sayHello(t, served)
	assert.Equal(t, component.ConnStats{Open: 3, Max: 3, Accepted: 3}, s.ConnStats())

	newcomer := s.dial(t)
	wantClosed(t, idle1, "the oldest unanswered connection makes room")
	sayHello(t, newcomer)
	late := s.dial(t)
	wantClosed(t, idle2, "then the next oldest")
	last := s.dial(t)
	wantClosed(t, late, "then the newest unanswered one: the others were answered")
	sayHello(t, served) // still open: answered connections are not evicted
	sayHello(t, last)

	st := s.ConnStats()
	assert.Equal(t, 3, st.Open)
	assert.Equal(t, uint64(6), st.Accepted)
	assert.Equal(t, uint64(3), st.Evicted)
	assert.Zero(t, st.Refused)
	full := logs.FilterMessage("listener full: closing an idle connection, the oldest never answered first")
	require.GreaterOrEqual(t, full.Len(), 1)
	require.Less(t, full.Len(), 3, "not once per eviction: at most every ten seconds")
	fields := full.All()[0].ContextMap()
	assert.Equal(t, "lines", fields["listener"])
	assert.Equal(t, s.Addr(), fields["addr"])
	assert.Equal(t, idle1.LocalAddr().String(), fields["closed"], "names the client it closed")
}

// A listener full of answered idle connections closes the one answered
// least recently; one whose every connection has a request in flight
// closes the newcomer at once.
func TestBindingLimitWhenAllAnswered(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.InfoLevel)
	s := startLineServer(t, 2, zap.New(core))
	a, b := s.dial(t), s.dial(t)
	sayHello(t, b)
	sayHello(t, a) // a answered last: b is the least recently answered

	c := s.dial(t)
	wantClosed(t, b, "the least recently answered idle connection makes room")
	sayHello(t, a)
	sayHello(t, c)
	assert.Equal(t, uint64(1), s.ConnStats().Evicted)

	// Both busy: a newcomer is closed at once, and the busy ones stay.
	say(t, a, "hold")
	say(t, c, "hold")
	d, err := net.DialTimeout("tcp", s.Addr(), 10*time.Second)
	require.NoError(t, err)
	defer d.Close()
	wantClosed(t, d, "a listener whose connections are all busy closes the newcomer")
	say(t, a, "release")
	say(t, c, "release")
	st := s.ConnStats()
	assert.Equal(t, uint64(1), st.Refused)
	assert.Equal(t, 2, st.Open)
	assert.Equal(t, 1, logs.FilterMessage("listener full of connections with requests in flight: closing a new one").Len())

	// A connection that ends frees its place.
	require.NoError(t, a.Close())
	require.Eventually(t, func() bool { return s.ConnStats().Open == 1 }, 10*time.Second, time.Millisecond)
	sayHello(t, s.dial(t))
	assert.Equal(t, uint64(1), s.ConnStats().Evicted, "no eviction: there was room")
}

// Without LimitConnections there is no cap.
func TestBindingNoLimit(t *testing.T) {
	t.Parallel()
	s := startLineServer(t, 0, nil)
	var conns []net.Conn
	for range 20 {
		conns = append(conns, s.dial(t))
	}
	for _, c := range conns {
		sayHello(t, c)
	}
	assert.Equal(t, component.ConnStats{Open: 20, Accepted: 20}, s.ConnStats())
}

// The cap is at most an eighth of the open-file limit, and Serve says so.
// Not parallel: it sets the limit the bindings see.
func TestBindingLimitFitsOpenFileLimit(t *testing.T) {
	defer component.SetOpenFileLimit(80)()
	core, logs := observer.New(zapcore.InfoLevel)
	s := startLineServer(t, 1000, zap.New(core))
	assert.Equal(t, 10, s.ConnStats().Max)
	lowered := logs.FilterMessage("connection cap lowered to fit the open-file limit; raise it (ulimit -n) for more")
	require.Equal(t, 1, lowered.Len())
	fields := lowered.All()[0].ContextMap()
	assert.Equal(t, int64(1000), fields["maxConnections"])
	assert.Equal(t, int64(10), fields["lowered"])
	assert.Equal(t, uint64(80), fields["openFileLimit"])

	small := startLineServer(t, 5, zap.New(core))
	assert.Equal(t, 5, small.ConnStats().Max, "a cap within the share is kept")
	assert.Equal(t, 1, lowered.Len())
}

// An HTTP server tells its binding about requests through Answering:
// under pressure, connections never answered go, and the answered
// keep-alive one stays.
func TestBindingAnswering(t *testing.T) {
	t.Parallel()
	b := component.NewBinding("http-limited", "127.0.0.1:0", nil)
	b.LimitConnections(2, nil)
	srv := &http.Server{Handler: b.Answering(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	})), ReadHeaderTimeout: 10 * time.Second}
	require.NoError(t, b.Serve(srv.Serve))
	defer func() { require.NoError(t, b.Shutdown(context.Background(), srv.Shutdown, http.ErrServerClosed)) }()
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	get := func() (reused bool) {
		trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, "http://"+b.Addr(), nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return reused
	}
	get()
	var idle []net.Conn
	for range 3 {
		c, err := net.DialTimeout("tcp", b.Addr(), 10*time.Second)
		require.NoError(t, err)
		defer c.Close()
		idle = append(idle, c)
	}
	wantClosed(t, idle[0], "the first idle connection made room for the second")
	wantClosed(t, idle[1], "and the second for the third")
	assert.True(t, get(), "the answered keep-alive connection was kept")
	assert.Equal(t, uint64(2), b.ConnStats().Evicted)
}

// fakeListener fails its first failures accepts with err, then hands out
// one end of a pipe per accept.
type fakeListener struct {
	err      error
	failures int

	mu    sync.Mutex
	calls []time.Time
	close chan struct{}
	once  sync.Once
}

func newFakeListener(err error, failures int) *fakeListener {
	return &fakeListener{err: err, failures: failures, close: make(chan struct{})}
}

func (f *fakeListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	n := len(f.calls)
	f.mu.Unlock()
	select {
	case <-f.close:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}
	default:
	}
	if f.failures < 0 || n <= f.failures {
		return nil, f.err
	}
	server, client := net.Pipe()
	client.Close()
	return server, nil
}

func (f *fakeListener) Close() error { f.once.Do(func() { close(f.close) }); return nil }
func (f *fakeListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
}

func (f *fakeListener) callTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

func emfile() error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
}

// An accept that fails with EMFILE or ENFILE is retried after a delay that
// doubles (5ms, 10ms, ...): the loop does not spin. It is logged once,
// with its end, and counted.
func TestGateBacksOffWhenOutOfDescriptors(t *testing.T) {
	t.Parallel()
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		t.Run(errno.Error(), func(t *testing.T) {
			t.Parallel()
			core, logs := observer.New(zapcore.InfoLevel)
			b := component.NewBinding("starved", "127.0.0.1:0", nil)
			fake := newFakeListener(&net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}, 6)
			g := component.NewGate(fake, b, 10, zap.New(core))

			c, err := g.Accept()
			require.NoError(t, err, "Accept returns the first connection once the errors stop")
			c.Close()

			calls := fake.callTimes()
			require.Len(t, calls, 7, "one accept per delay, not a spin")
			want := 5 * time.Millisecond
			for i := 1; i < len(calls); i++ {
				assert.GreaterOrEqual(t, calls[i].Sub(calls[i-1]), want, "delay before accept %d", i+1)
				want *= 2
			}
			assert.Equal(t, uint64(6), b.ConnStats().AcceptErrors)
			failed := logs.FilterMessage("accept failed for want of resources; retrying with backoff until connections close")
			require.Equal(t, 1, failed.Len(), "logged once per episode")
			assert.Equal(t, zapcore.WarnLevel, failed.All()[0].Level)
			assert.Contains(t, failed.All()[0].ContextMap()["error"], errno.Error())
			assert.Equal(t, 1, logs.FilterMessage("accepting again").Len())
			require.NoError(t, g.Close())
		})
	}
}

// The delay grows to a second, and closing the listener ends a pending
// delay at once.
func TestGateBackoffEndsOnClose(t *testing.T) {
	t.Parallel()
	b := component.NewBinding("starved", "127.0.0.1:0", nil)
	fake := newFakeListener(emfile(), -1)
	g := component.NewGate(fake, b, 0, zap.NewNop())
	accepted := make(chan error, 1)
	go func() {
		_, err := g.Accept()
		accepted <- err
	}()
	// 5+10+...+640ms, then 1s: the ninth call comes after the first 1s delay.
	require.Eventually(t, func() bool { return len(fake.callTimes()) >= 10 }, 30*time.Second, 10*time.Millisecond)
	calls := fake.callTimes()
	assert.GreaterOrEqual(t, calls[9].Sub(calls[8]), time.Second)
	require.NoError(t, g.Close())
	select {
	case err := <-accepted:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the backoff")
	}
}

// Other accept errors are returned as they are.
func TestGateReturnsOtherErrors(t *testing.T) {
	t.Parallel()
	broken := errors.New("accept: broken")
	g := component.NewGate(newFakeListener(broken, 1), component.NewBinding("x", "127.0.0.1:0", nil), 0, zap.NewNop())
	_, err := g.Accept()
	assert.Equal(t, broken, err)
}

// With a real open-file limit: the process runs out of descriptors, the
// accept loop waits instead of spinning, and serves the waiting clients
// once descriptors are free. It runs in a child process, whose limit it
// may lower.
func TestBindingAcceptOutOfDescriptors(t *testing.T) {
	if os.Getenv("BOOTGRAPH_EMFILE_CHILD") == "1" {
		emfileChild(t)
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBindingAcceptOutOfDescriptors$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "BOOTGRAPH_EMFILE_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestBindingAcceptOutOfDescriptors")
}

func emfileChild(t *testing.T) {
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 64, Max: 64}))
	core, logs := observer.New(zapcore.InfoLevel)
	s := &lineServer{Binding: component.NewBinding("starved", "127.0.0.1:0", nil),
		accepted: make(chan string, 100), conns: map[net.Conn]struct{}{}}
	s.LimitConnections(100, zap.New(core)) // lowered to 64/8 = 8
	start := make(chan struct{})
	require.NoError(t, s.Serve(func(l net.Listener) error { <-start; return s.serve(l) }))
	defer func() { require.NoError(t, s.Shutdown(context.Background(), s.stop, net.ErrClosed)) }()

	// Three clients wait in the backlog; then every descriptor is taken.
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", s.Addr())
		require.NoError(t, err)
		defer c.Close()
		clients = append(clients, c)
	}
	var fillers []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			require.ErrorIs(t, err, syscall.EMFILE)
			break
		}
		fillers = append(fillers, f)
	}
	close(start)
	// The accept loop fails and waits; a spinning one would count
	// thousands of errors.
	require.Eventually(t, func() bool { return s.ConnStats().AcceptErrors >= 5 }, 30*time.Second, time.Millisecond)
	begin := time.Now()
	errs := s.ConnStats().AcceptErrors
	for time.Since(begin) < 300*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, s.ConnStats().AcceptErrors-errs, uint64(4), "at most one accept per backoff delay")
	for _, f := range fillers {
		f.Close()
	}
	for _, c := range clients {
		select {
		case <-s.accepted:
		case <-time.After(10 * time.Second):
			t.Fatal("a waiting client was never accepted")
		}
		sayHello(t, c)
	}
	assert.Equal(t, 1, logs.FilterMessage("accept failed for want of resources; retrying with backoff until connections close").Len())
	assert.Equal(t, 1, logs.FilterMessage("accepting again").Len())
	assert.Equal(t, 8, s.ConnStats().Max)
}

// EarlyStop: Begin starts the drain in the background, Wait waits for it
// without starting a second one; a Wait whose context ends first cuts the
// drain short; after a Wait the next one drains again.
func TestEarlyStop(t *testing.T) {
	t.Parallel()
	var e component.EarlyStop
	started := make(chan context.Context, 3)
	release := make(chan struct{})
	drain := func(ctx context.Context) {
		started <- ctx
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	e.Begin(time.Hour, drain)
	e.Begin(time.Hour, drain) // begun already: no second drain
	<-started
	waited := make(chan struct{})
	go func() { e.Wait(context.Background(), time.Hour, drain); close(waited) }()
	select {
	case <-waited:
		t.Fatal("Wait returned before the drain")
	default:
	}
	close(release)
	<-waited
	assert.Len(t, started, 0, "one drain for Begin, Begin and Wait")

	// A second stop drains again; its context ends with Wait's.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.Wait(ctx, time.Hour, func(ctx context.Context) { started <- ctx; <-ctx.Done() })
	second := <-started
	assert.ErrorIs(t, second.Err(), context.Canceled, "Wait's context ended the drain's")

	// The drain's own timeout.
	e.Wait(context.Background(), 10*time.Millisecond, func(ctx context.Context) { started <- ctx; <-ctx.Done() })
	assert.ErrorIs(t, (<-started).Err(), context.DeadlineExceeded)
}
