package webhook_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/net/http2"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// short are timeouts short enough for a test.
var short = webhook.Options{
	ReadHeaderTimeout: component.Duration(300 * time.Millisecond),
	ReadTimeout:       component.Duration(300 * time.Millisecond),
	IdleTimeout:       component.Duration(300 * time.Millisecond),
}

func (f *fixture) roots() *x509.CertPool {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(f.ca.RootPEM())
	return roots
}

// tlsDial opens a TLS connection offering only proto (ALPN).
func (f *fixture) tlsDial(t *testing.T, proto string) *tls.Conn {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", f.server.Addr(),
		&tls.Config{RootCAs: f.roots(), ServerName: "localhost", NextProtos: []string{proto}})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closedByServer waits until the server closes conn, reading whatever it
// sends first, and returns that.
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

// A request whose declared body never arrives, or arrives a byte at a
// time, is answered 408 after readTimeout over HTTP/1.1, and its
// connection is closed.
func TestBodyTimeoutHTTP1(t *testing.T) {
	t.Parallel()
	f := start(t, short, webhook.Handler{Path: "/validate", Handler: webhook.Admission(denyPrivileged)})
	for name, trickle := range map[string]bool{"body never sent": false, "body trickled": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn := f.tlsDial(t, "http/1.1")
			_, err := io.WriteString(conn, "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
			require.NoError(t, err)
			stop := make(chan struct{})
			defer close(stop)
			if trickle {
				go func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
							if _, err := conn.Write([]byte("{")); err != nil {
								return
							}
						}
					}
				}()
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
			assert.Contains(t, string(body), "request body not received within readTimeout 300ms")
			assert.Contains(t, string(body), "of 100 bytes")
			closedByServer(t, conn, "after the 408")
		})
	}
}

// Over HTTP/2 the same: the stream gets 408 after readTimeout.
func TestBodyTimeoutHTTP2(t *testing.T) {
	t.Parallel()
	f := start(t, short, webhook.Handler{Path: "/validate", Handler: webhook.Admission(denyPrivileged)})
	for name, trickle := range map[string]bool{"body never sent": false, "body trickled": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := &slowBody{trickle: trickle, stop: make(chan struct{})}
			defer body.Close()
			req, err := http.NewRequest(http.MethodPost, f.url("/validate"), body)
			require.NoError(t, err)
			req.ContentLength = 100
			req.Header.Set("Content-Type", "application/json")
			resp, err := f.client.Do(req)
			require.NoError(t, err)
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, "HTTP/2.0", resp.Proto)
			assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
			assert.Contains(t, string(out), "request body not received within readTimeout 300ms")
		})
	}
}

// slowBody sends nothing until closed, or a byte every 20ms.
type slowBody struct {
	trickle bool
	stop    chan struct{}
	once    sync.Once
}

func (b *slowBody) Close() error { b.once.Do(func() { close(b.stop) }); return nil }

func (b *slowBody) Read(p []byte) (int, error) {
	if !b.trickle {
		<-b.stop
		return 0, io.EOF
	}
	select {
	case <-b.stop:
		return 0, io.EOF
	case <-time.After(20 * time.Millisecond):
		p[0] = '{'
		return 1, nil
	}
}

// Clients that connect and never finish the TLS handshake or the request
// headers are closed after readHeaderTimeout.
func TestHandshakeAndHeaderTimeouts(t *testing.T) {
	t.Parallel()
	f := start(t, short)
	for name, send := range map[string]func(t *testing.T) net.Conn{
		"nothing sent": func(t *testing.T) net.Conn { return rawDial(t, f) },
		"half a ClientHello": func(t *testing.T) net.Conn {
			conn := rawDial(t, f)
			_, err := conn.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03})
			require.NoError(t, err)
			return conn
		},
		"TLS done, no request": func(t *testing.T) net.Conn { return f.tlsDial(t, "http/1.1") },
		"headers trickled": func(t *testing.T) net.Conn {
			conn := f.tlsDial(t, "http/1.1")
			go func() {
				for _, b := range []byte("GET /ready HTTP/1.1\r\nHost: localhost\r\nX-Slow: ") {
					if _, err := conn.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
			return conn
		},
		"HTTP/2 preface, then nothing": func(t *testing.T) net.Conn {
			conn := f.tlsDial(t, "h2")
			_, err := io.WriteString(conn, http2.ClientPreface)
			require.NoError(t, err)
			return conn
		},
		"HTTP/2 preface and SETTINGS, then nothing (idleTimeout)": func(t *testing.T) net.Conn {
			conn := f.tlsDial(t, "h2")
			_, err := io.WriteString(conn, http2.ClientPreface)
			require.NoError(t, err)
			require.NoError(t, http2.NewFramer(conn, conn).WriteSettings())
			return conn
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			closedByServer(t, send(t), name)
		})
	}
	// The server goes on.
	resp, err := f.client.Get(f.url("/ready"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func rawDial(t *testing.T, f *fixture) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", f.server.Addr(), 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// A full listener closes its oldest unanswered connection for a new one:
// idle clients cannot keep the API server out.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	f := start(t, webhook.Options{MaxConnections: 3})
	resp, err := f.client.Get(f.url("/ready")) // an answered keep-alive connection
	require.NoError(t, err)
	resp.Body.Close()
	var idle []net.Conn
	for range 4 {
		idle = append(idle, rawDial(t, f))
	}
	closedByServer(t, idle[0], "the oldest idle connection")
	closedByServer(t, idle[1], "the next oldest")
	resp, err = f.client.Get(f.url("/ready"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	st := f.server.ConnStats()
	assert.Equal(t, 3, st.Max)
	assert.GreaterOrEqual(t, st.Evicted, uint64(2))
}

// Stop with a client trickling a body returns within drainTimeout, nil,
// having closed the connection and said so.
func TestStopWithTricklingClient(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	core, logs := observer.New(zapcore.WarnLevel)
	opts := webhook.Options{Addr: "127.0.0.1:0", ReadTimeout: component.Duration(time.Minute), DrainTimeout: component.Duration(200 * time.Millisecond)}
	s, err := webhook.NewServer(opts, testutil.NewBundle(t, c), zap.New(core),
		[]webhook.Handler{{Path: "/validate", Handler: webhook.Admission(denyPrivileged)}})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.RootPEM())
	conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	require.NoError(t, err)
	defer conn.Close()
	// "Expect: 100-continue": the server says "100 Continue" when it starts
	// reading the body, so the request is in flight once that arrives.
	_, err = fmt.Fprintf(conn, "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"+
		"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "HTTP/1.1 100 Continue\r\n", line)
	_, err = io.WriteString(conn, "{") // one byte of the body, then nothing
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, s.Stop(ctx))
	require.NoError(t, ctx.Err(), "Stop returned within the drain timeout, not the stop budget")
	closedByServer(t, conn, "the trickling client")
	assert.Equal(t, 1, logs.FilterMessage("drain deadline passed; closing remaining connections").Len())
}

func TestLimitOptions(t *testing.T) {
	t.Parallel()
	var o webhook.Options
	o.SetDefaults()
	assert.Equal(t, component.Duration(10*time.Second), o.ReadHeaderTimeout)
	assert.Equal(t, component.Duration(10*time.Second), o.ReadTimeout)
	assert.Equal(t, 1024, o.MaxConnections)
	assert.Equal(t, component.Duration(5*time.Second), o.DrainTimeout)
	assert.Equal(t, int64(64<<20), o.BodyBufferBytes)
	require.NoError(t, o.Validate())
	o.MaxConnections, o.ReadTimeout, o.DrainTimeout, o.BodyBufferBytes = -1, -1, -1, 1<<20
	err := o.Validate()
	require.Error(t, err)
	for _, want := range []string{
		"maxConnections: -1 must be positive", "readTimeout: -1ns must be positive", "drainTimeout: -1ns must be positive",
		"bodyBufferBytes: 1048576 is below maxRequestBytes (7340032): the largest request would not fit",
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.False(t, strings.Contains(err.Error(), "webhook."), "relative to the options")
}

// stallBody sends n bytes, says so on sent, then waits for stop.
type stallBody struct {
	n    int
	sent chan<- struct{}
	stop <-chan struct{}
	once sync.Once
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		b.once.Do(func() { b.sent <- struct{}{} })
		<-b.stop
		return 0, io.EOF
	}
	n := min(len(p), b.n)
	clear(p[:n])
	b.n -= n
	return n, nil
}

// One HTTP/2 client opens 200 streams, each declaring the largest body
// (7 MiB) and sending all of it but 10 bytes: the bodies being received
// stay within bodyBufferBytes (the oldest are dropped with 503), where
// they held 1.4 GB, and a well-behaved review is answered meanwhile. Not
// parallel: it measures the heap.
func TestBodyFloodMemoryBound(t *testing.T) {
	f := start(t, webhook.Options{}, webhook.Handler{Path: "/validate", Handler: webhook.Admission(denyPrivileged)})
	var opts webhook.Options
	opts.SetDefaults()
	base := liveHeap()

	const streams = 200
	sent, stop := make(chan struct{}, streams), make(chan struct{})
	codes := make(chan int, streams)
	var wg sync.WaitGroup
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(http.MethodPost, f.url("/validate"), &stallBody{n: int(opts.MaxRequestBytes) - 10, sent: sent, stop: stop})
			if err != nil {
				codes <- 0
				return
			}
			req.ContentLength = opts.MaxRequestBytes
			req.Header.Set("Content-Type", "application/json")
			resp, err := f.client.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	// Each stream ends one of two ways: dropped (its response came), or
	// held (it sent all it would and waits).
	outcomes := map[string]int{}
	for range streams {
		select {
		case <-sent:
			outcomes["held"]++
		case code := <-codes:
			outcomes[http.StatusText(code)]++
		case <-time.After(60 * time.Second):
			t.Fatalf("the attack did not settle: %v", outcomes)
		}
	}
	code, body := post(t, f, "/validate", "application/json", review(t, "during", nil))
	assert.Equal(t, http.StatusOK, code, "a well-behaved review is answered during the attack: %s", body)

	grown := int64(liveHeap()) - int64(base)
	bound := 2*opts.BodyBufferBytes + streams*64<<10 + 16<<20
	t.Logf("%d streams: %v; live heap grew %d MiB; bound %d MiB", streams, outcomes, grown>>20, bound>>20)
	assert.Positive(t, outcomes[http.StatusText(http.StatusServiceUnavailable)], "the oldest bodies were dropped")
	assert.LessOrEqual(t, grown, bound, "bodies being received stay within the body buffer (a buffer may be twice its bytes)")
	close(stop)
	wg.Wait()
}

// liveHeap returns the bytes of live heap objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Clients that each make one cheap request (GET /ready) and then keep
// their connection idle cannot fill the listener: a full listener closes
// the idle connection answered least recently for a newcomer.
func TestAnsweredIdleConnectionsMakeRoom(t *testing.T) {
	t.Parallel()
	f := start(t, webhook.Options{MaxConnections: 2})
	var clients []*http.Client
	for range 5 {
		transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.roots(), ServerName: "localhost"}, ForceAttemptHTTP2: true}
		t.Cleanup(transport.CloseIdleConnections)
		client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
		resp, err := client.Get(f.url("/ready"))
		require.NoError(t, err, "client %d is served", len(clients))
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		clients = append(clients, client)
	}
	assert.Equal(t, uint64(3), f.server.ConnStats().Evicted)
	assert.Zero(t, f.server.ConnStats().Refused)
}
