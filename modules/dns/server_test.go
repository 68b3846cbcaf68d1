package dns_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
)

// pipelined is the query with ID i in TestPipelining and its answer.
func pipelined(i int) (name string, qtype uint16, answer string) {
	if i%2 == 0 {
		return "istiod.istio-system.svc.", mdns.TypeA, "127.0.0.1"
	}
	return "XDS.istio-system.svc.", mdns.TypeAAAA, "fd00::1"
}

// TestPipelining writes 1000 queries back-to-back on one TLS connection,
// far past miekg/dns's default of 128 queries per connection, then reads
// every answer.
func TestPipelining(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, dnsmod.Options{}, testutil.NewBundle(t, c), nil, testRecords...)
	conn := dial(t, s.Addr(), c.Roots())
	const n = 1000
	var queries []byte
	for i := range n {
		name, qtype, _ := pipelined(i)
		queries = append(queries, frame(pack(t, question(uint16(i), name, qtype)))...)
	}
	written := make(chan error, 1)
	go func() { _, err := conn.Write(queries); written <- err }() // one write: the server gets them all at once

	seen := make(map[uint16]bool, n)
	for range n {
		resp := readResponse(t, conn)
		require.False(t, seen[resp.Id], "ID %d answered twice", resp.Id)
		seen[resp.Id] = true
		require.Less(t, int(resp.Id), n)
		name, qtype, answer := pipelined(int(resp.Id))
		require.Equal(t, mdns.Question{Name: name, Qtype: qtype, Qclass: mdns.ClassINET}, resp.Question[0], "ID %d", resp.Id)
		require.Len(t, resp.Answer, 1, "ID %d", resp.Id)
		require.Contains(t, resp.Answer[0].String(), answer)
	}
	require.NoError(t, <-written)
	assert.Len(t, seen, n)

	// The connection is still open for more.
	_, err := conn.Write(frame(pack(t, question(4242, "istiod.istio-system.svc.", mdns.TypeA))))
	require.NoError(t, err)
	assert.Equal(t, uint16(4242), readResponse(t, conn).Id)
}

// TestMalformedInput sends bytes that are not a proper query. Each gets
// FORMERR (or NOTIMP for an opcode) or closes its connection, and another
// connection, open all along, keeps working.
func TestMalformedInput(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, dnsmod.Options{}, testutil.NewBundle(t, c), nil)
	bystander := dial(t, s.Addr(), c.Roots())

	twoQuestions := question(11, "istiod.istio-system.svc.", mdns.TypeA)
	twoQuestions.Question = append(twoQuestions.Question, mdns.Question{Name: "xds.istio-system.svc.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET})
	noQuestion := question(12, "istiod.istio-system.svc.", mdns.TypeA)
	noQuestion.Question = nil
	withOpcode := func(id uint16, opcode int) []byte {
		m := question(id, "istio-system.svc.", mdns.TypeSOA)
		m.Opcode = opcode
		return pack(t, m)
	}
	response := question(13, "istiod.istio-system.svc.", mdns.TypeA)
	response.Response = true
	truncated := pack(t, question(14, "istiod.istio-system.svc.", mdns.TypeA))
	truncated = truncated[:len(truncated)-3]
	garbage := make([]byte, 64)
	for i := range garbage {
		garbage[i] = byte(i*37 + 11)
	}
	garbage[2] &^= 0x80 // a query, so that miekg/dns parses it
	garbage[2] &^= 0x78 // opcode QUERY

	tests := []struct {
		name  string
		msg   []byte
		rcode int // -1: the connection is closed instead
	}{
		{"two questions", pack(t, twoQuestions), mdns.RcodeFormatError},
		{"no question", pack(t, noQuestion), mdns.RcodeFormatError},
		{"NOTIFY", withOpcode(15, mdns.OpcodeNotify), mdns.RcodeNotImplemented},
		{"UPDATE", withOpcode(16, mdns.OpcodeUpdate), mdns.RcodeNotImplemented},
		{"IQUERY", withOpcode(17, mdns.OpcodeIQuery), mdns.RcodeNotImplemented},
		{"a response, not a query", pack(t, response), mdns.RcodeFormatError},
		{"truncated question", truncated, mdns.RcodeFormatError},
		{"garbage after a query header", garbage, mdns.RcodeFormatError},
		{"shorter than a header", []byte{0xde, 0xad, 0xbe}, -1},
		{"empty", nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dial(t, s.Addr(), c.Roots())
			_, err := conn.Write(frame(tt.msg))
			require.NoError(t, err)

			raw, err := readMsg(conn)

			if tt.rcode < 0 {
				require.ErrorIs(t, err, io.EOF, "the server closes the connection")
			} else {
				require.NoError(t, err)
				// Read the header alone: a FORMERR answer may carry a
				// question that does not parse.
				require.GreaterOrEqual(t, len(raw), 12)
				assert.Equal(t, tt.msg[:2], raw[:2], "the answer carries the query's ID")
				assert.NotZero(t, raw[2]&0x80, "QR")
				assert.Equal(t, mdns.RcodeToString[tt.rcode], mdns.RcodeToString[int(raw[3]&0xF)])
			}
			_, err = bystander.Write(frame(pack(t, question(99, "istiod.istio-system.svc.", mdns.TypeA))))
			require.NoError(t, err)
			resp := readResponse(t, bystander)
			assert.Equal(t, uint16(99), resp.Id)
			assert.Len(t, resp.Answer, 1, "the other connection still gets answers")
		})
	}
}

// TestServingCertHotReload: a certificate set into the bundle after Start is
// presented on the next handshake, and connections made before keep working.
func TestServingCertHotReload(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	bundle := testutil.NewBundle(t, c)
	s, _ := startServer(t, dnsmod.Options{}, bundle, nil)
	serial := func(conn *tls.Conn) string {
		require.NoError(t, conn.Handshake())
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := dial(t, s.Addr(), c.Roots())
	first := serial(before)
	require.Equal(t, bundle.Leaf().SerialNumber.String(), first)
	assert.Equal(t, "dot", before.ConnectionState().NegotiatedProtocol, "ALPN dot (RFC 7858)")

	// The same names: this test is about the TLS side (TestCertificateNames
	// changes the names).
	chain, key, err := c.GenKeyCert(testutil.DefaultNames, time.Hour)
	require.NoError(t, err)
	require.NoError(t, bundle.Set(chain, key, c.RootPEM()))
	second := bundle.Leaf().SerialNumber.String()
	require.NotEqual(t, first, second)

	assert.Equal(t, second, serial(dial(t, s.Addr(), c.Roots())), "the next handshake presents the new certificate")
	_, err = before.Write(frame(pack(t, question(5, "istiod.istio-system.svc.", mdns.TypeA))))
	require.NoError(t, err)
	assert.Len(t, readResponse(t, before).Answer, 1, "the connection made before the swap still works")
}

func TestStartAddressInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().String()
	s, err := dnsmod.NewServer(dnsmod.Options{Addr: addr}, testutil.NewBundle(t, testutil.NewCA(t)), zap.NewNop(), nil)
	require.NoError(t, err)

	err = s.Start(context.Background())

	require.Error(t, err)
	assert.Contains(t, err.Error(), "dns-over-tls listener on "+addr)
	assert.ErrorContains(t, s.Ready(context.Background()), "not listening")
	assert.NoError(t, s.Stop(context.Background()), "Stop after a failed Start")
}

func TestReadyAndAddr(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	bundle := testutil.NewBundle(t, c)
	s, err := dnsmod.NewServer(dnsmod.Options{Addr: "127.0.0.1:0"}, bundle, zap.NewNop(), nil)
	require.NoError(t, err)
	var _ component.Listener = s
	assert.Equal(t, "dns-over-tls", s.Name())
	assert.Equal(t, dnsmod.Name, s.Name())
	assert.Equal(t, "127.0.0.1:0", s.Addr(), "before Start, Addr is the configured address")
	err = s.Ready(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dns-over-tls 127.0.0.1:0: not listening")

	require.NoError(t, s.Start(context.Background()))
	defer func() { assert.NoError(t, s.Stop(context.Background())) }()

	require.NoError(t, s.Ready(context.Background()))
	host, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	assert.NotZero(t, n, "Addr is the bound port, not :0")
	assert.Len(t, exchange(t, s.Addr(), c.Roots(), question(1, "istiod.istio-system.svc.", mdns.TypeA)).Answer, 1)

	// Readiness also requires a currently valid serving certificate.
	certPEM, keyPEM := testutil.Expired(t)
	require.NoError(t, bundle.Set(certPEM, keyPEM, c.RootPEM()))
	err = s.Ready(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expired")
	assert.Contains(t, err.Error(), s.Addr())
}

// TestStopClosesIdleConnections: Stop does not wait for an idle client's
// idle timeout; the client sees its connection closed and new ones refused.
func TestStopClosesIdleConnections(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, stop := startServer(t, dnsmod.Options{IdleTimeout: component.Duration(time.Hour)}, testutil.NewBundle(t, c), nil)
	conn := dial(t, s.Addr(), c.Roots())
	_, err := conn.Write(frame(pack(t, question(1, "istiod.istio-system.svc.", mdns.TypeA))))
	require.NoError(t, err)
	require.Len(t, readResponse(t, conn).Answer, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, stop(ctx))
	require.NoError(t, ctx.Err(), "Stop returned before its deadline")

	_, err = readMsg(conn)
	assert.ErrorIs(t, err, io.EOF, "the idle connection was closed")
	_, err = net.DialTimeout("tcp", s.Addr(), time.Second)
	assert.Error(t, err, "the listener is closed")
	assert.ErrorContains(t, s.Ready(context.Background()), "not listening")
	assert.NoError(t, s.Stop(context.Background()), "a second Stop")
}

// TestStopDeadlineClosesStuckConnections: a client that sends queries but
// never reads the answers blocks the server's writes; Stop waits for it
// until its deadline, then closes the connection.
//
// Not parallel: it waits until a goroutine of the server is blocked writing
// answers, which it tells from the goroutines' stacks, so no other test's
// server may run meanwhile.
func TestStopDeadlineClosesStuckConnections(t *testing.T) {
	c := testutil.NewCA(t)
	core, logs := observer.New(zapcore.WarnLevel)
	s, stop := startServer(t, dnsmod.Options{IdleTimeout: component.Duration(time.Hour)}, testutil.NewBundle(t, c), zap.New(core))
	// The smallest receive buffer the kernel allows: a few answers fill it,
	// and a server blocked writing stays blocked.
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	conn, err := tls.DialWithDialer(dialer, "tcp", s.Addr(), clientTLS(c.Roots()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.NetConn().Close() }) // not conn.Close: it would wait for the writer
	var batch []byte
	for i := range 1000 {
		batch = append(batch, frame(pack(t, question(uint16(i), "istiod.istio-system.svc.", mdns.TypeA)))...)
	}
	// Write until the connection breaks, never reading: the server answers
	// until the answers fill the buffers, then blocks writing.
	written := make(chan error, 1)
	go func() {
		for {
			if _, err := conn.Write(batch); err != nil {
				written <- err
				return
			}
		}
	}()
	require.Eventually(t, serverBlockedWriting, time.Minute, 10*time.Millisecond,
		"no goroutine of the server blocked writing answers")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stop(ctx) }()

	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Stop did not close the stuck connection after its deadline")
	}
	assert.Equal(t, 1, logs.FilterMessage("drain deadline passed; closing remaining connections").Len())
	select {
	case err := <-written:
		assert.Error(t, err, "the server closed the connection")
	case <-time.After(20 * time.Second):
		t.Fatal("the client's write did not fail after the server closed the connection")
	}
}

// serverBlockedWriting reports whether a goroutine waits, in the server's
// batchConn, until its socket can take more bytes.
func serverBlockedWriting() bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[IO wait") && strings.Contains(g, "dns.(*batchConn).flushLocked") &&
			strings.Contains(g, "waitWrite") {
			return true
		}
	}
	return false
}

// TestIdleTimeout: a connection that sends nothing more is closed after the
// idle timeout.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, dnsmod.Options{IdleTimeout: component.Duration(time.Second)}, testutil.NewBundle(t, c), nil)
	// The timeout runs from the connection's start too: on a busy machine
	// it may close the connection before the first answer. Try again then.
	var conn *tls.Conn
	for attempt := 1; conn == nil; attempt++ {
		try, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", s.Addr(), clientTLS(c.Roots()))
		if err == nil {
			conn = try
			t.Cleanup(func() { try.Close() })
			_, err = conn.Write(frame(pack(t, question(1, "istiod.istio-system.svc.", mdns.TypeA))))
		}
		var raw []byte
		if err == nil {
			raw, err = readMsg(conn)
		}
		if err != nil {
			require.Less(t, attempt, 10, "no answer before the idle timeout: %v", err)
			conn = nil
			continue
		}
		resp := new(mdns.Msg)
		require.NoError(t, resp.Unpack(raw))
		require.Len(t, resp.Answer, 1)
	}
	start := time.Now()

	_, err := readMsg(conn)

	require.ErrorIs(t, err, io.EOF, "the server closed the idle connection")
	assert.Less(t, time.Since(start), 6*time.Second, "closed after the configured idle timeout, not miekg/dns's default of 8s")
}

func TestStopWithoutStart(t *testing.T) {
	t.Parallel()
	s, err := dnsmod.NewServer(dnsmod.Options{Addr: "127.0.0.1:0"}, testutil.NewBundle(t, testutil.NewCA(t)), zap.NewNop(), nil)
	require.NoError(t, err)
	require.NoError(t, s.Stop(context.Background()))
	require.NoError(t, s.Stop(context.Background()))
}

// TestCertificateNames: the own names are those of the bundle's
// certificate. A certificate with other names, set into the same bundle,
// changes the answers at once, on connections made before too; contributed
// records stay. A new certificate with the same names leaves them be.
func TestCertificateNames(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	bundle := testutil.NewBundle(t, c, "istiod.istio-system.svc", "localhost")
	core, logs := observer.New(zapcore.InfoLevel)
	xds := testRecords[0] // no SRV record: it would keep istiod.istio-system.svc as an empty non-terminal
	s, _ := startServer(t, dnsmod.Options{}, bundle, zap.New(core), xds)
	before := dial(t, s.Addr(), c.Roots())
	var id uint16
	ask := func(name string, qtype uint16) *mdns.Msg {
		t.Helper()
		id++
		_, err := before.Write(frame(pack(t, question(id, name, qtype))))
		require.NoError(t, err)
		resp := readResponse(t, before)
		fresh := exchange(t, s.Addr(), c.Roots(), question(id, name, qtype))
		assert.Equal(t, resp.String(), fresh.String(), "a new connection gets the same answer")
		return resp
	}
	rcode := func(m *mdns.Msg) string { return mdns.RcodeToString[m.Rcode] }
	notServed := func() int { return logs.FilterMessage("own names not served: outside every zone").Len() }

	resp := ask("istiod.istio-system.svc.", mdns.TypeA)
	assert.Equal(t, []string{"istiod.istio-system.svc.\t30\tIN\tA\t127.0.0.1"}, rrs(resp.Answer))
	assert.Equal(t, "NXDOMAIN", rcode(ask("istiod-new.istio-system.svc.", mdns.TypeA)))
	require.Equal(t, 1, notServed(), "localhost")

	chain, key, err := c.GenKeyCert([]string{"istiod-new.istio-system.svc", "localhost"}, time.Hour)
	require.NoError(t, err)
	require.NoError(t, bundle.Set(chain, key, c.RootPEM()))

	resp = ask("istiod-new.istio-system.svc.", mdns.TypeA)
	assert.Equal(t, "NOERROR", rcode(resp))
	assert.Equal(t, []string{"istiod-new.istio-system.svc.\t30\tIN\tA\t127.0.0.1"}, rrs(resp.Answer), "the new name answers")
	resp = ask("istiod-new.istio-system.svc.", mdns.TypeAAAA)
	assert.Equal(t, []string{"istiod-new.istio-system.svc.\t30\tIN\tAAAA\t::1"}, rrs(resp.Answer))
	resp = ask("istiod.istio-system.svc.", mdns.TypeA)
	assert.Equal(t, "NXDOMAIN", rcode(resp), "the old name is gone")
	assert.Empty(t, resp.Answer)
	resp = ask("istio-system.svc.", mdns.TypeNS)
	assert.Equal(t, []string{"istio-system.svc.\t30\tIN\tNS\tistiod-new.istio-system.svc."}, rrs(resp.Answer), "the zone's NS follows")
	resp = ask("xds.istio-system.svc.", mdns.TypeA)
	assert.Equal(t, []string{"xds.istio-system.svc.\t5\tIN\tA\t10.0.0.1"}, rrs(resp.Answer), "contributed records stay")
	assert.Equal(t, 2, notServed(), "the answers were computed again")

	chain, key, err = c.GenKeyCert([]string{"istiod-new.istio-system.svc", "localhost"}, time.Hour)
	require.NoError(t, err)
	require.NoError(t, bundle.Set(chain, key, c.RootPEM()))
	assert.Equal(t, 2, notServed(), "same names: the answers are kept")
	assert.Len(t, ask("istiod-new.istio-system.svc.", mdns.TypeA).Answer, 1)
}

// TestCertificateNamesConcurrentSets: certificates with different names,
// set at once from several goroutines while queries are answered: the
// answers end with the names of the certificate the bundle ends with.
func TestCertificateNamesConcurrentSets(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	bundle := testutil.NewBundle(t, c, "a.istio-system.svc", "localhost")
	s, _ := startServer(t, dnsmod.Options{}, bundle, nil)
	type cert struct{ chain, key []byte }
	var certs []cert
	for _, name := range []string{"a.istio-system.svc", "b.istio-system.svc", "c.istio-system.svc"} {
		chain, key, err := c.GenKeyCert([]string{name, "localhost"}, time.Hour)
		require.NoError(t, err)
		certs = append(certs, cert{chain, key})
	}
	conn := dial(t, s.Addr(), c.Roots())

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				cert := certs[(g+i)%len(certs)]
				if err := bundle.Set(cert.chain, cert.key, c.RootPEM()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 30 { // meanwhile, every answer is one of the names' or NXDOMAIN
		_, err := conn.Write(frame(pack(t, question(uint16(i), "b.istio-system.svc.", mdns.TypeA))))
		require.NoError(t, err)
		resp := readResponse(t, conn)
		require.Contains(t, []int{mdns.RcodeSuccess, mdns.RcodeNameError}, resp.Rcode)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	final := bundle.Leaf().DNSNames[0]
	for _, name := range []string{"a.istio-system.svc", "b.istio-system.svc", "c.istio-system.svc"} {
		resp := exchange(t, s.Addr(), c.Roots(), question(1, name+".", mdns.TypeA))
		if name == final {
			assert.Len(t, resp.Answer, 1, "%s: the bundle's certificate's name", name)
		} else {
			assert.Equal(t, "NXDOMAIN", mdns.RcodeToString[resp.Rcode], "%s, while the bundle's certificate is for %s", name, final)
		}
	}
}
