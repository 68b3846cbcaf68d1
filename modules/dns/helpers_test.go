package dns_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/internal/testutil"
	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testRecords are the contributed records most tests serve.
var testRecords = []dnsmod.Record{
	{
		Name:  "xds.istio-system.svc",
		Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")},
		TTL:   5 * time.Second,
	},
	{
		Name: "_grpc._tcp.istiod.istio-system.svc",
		SRV:  []dnsmod.SRV{{Target: "istiod.istio-system.svc", Port: 15012, Priority: 1, Weight: 10}},
	},
}

// startServer starts a DoT server on 127.0.0.1:0, stopped when the test
// ends; the returned stop is its Stop, for tests that stop it earlier.
func startServer(t testing.TB, opts dnsmod.Options, bundle *servingcert.Bundle, log *zap.Logger, records ...dnsmod.Record) (*dnsmod.Server, func(context.Context) error) {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if log == nil {
		log = zap.NewNop()
	}
	s, err := dnsmod.NewServer(opts, bundle, log, records)
	require.NoError(t, err)
	testutil.Start(t, s)
	return s, s.Stop
}

// clientTLS trusts roots and checks the name "localhost", as a DoT client
// of a local plane would.
func clientTLS(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"dot"}, MinVersion: tls.VersionTLS12}
}

// exchange sends m with miekg/dns's DoT client.
func exchange(t testing.TB, addr string, roots *x509.CertPool, m *mdns.Msg) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: "tcp-tls", TLSConfig: clientTLS(roots), Timeout: 10 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	require.NoError(t, err)
	return resp
}

// question builds a query for name and type with the given ID.
func question(id uint16, name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg).SetQuestion(name, qtype)
	m.Id = id
	return m
}

// dial opens a TLS connection; it closes when the test ends.
func dial(t testing.TB, addr string, roots *x509.CertPool) *tls.Conn {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, clientTLS(roots))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(15*time.Second)))
	return conn
}

// frame prefixes a message with its two-byte length (RFC 1035 4.2.2).
func frame(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)
}

// pack packs m, failing the test on error.
func pack(t testing.TB, m *mdns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	require.NoError(t, err)
	return b
}

// readMsg reads one length-prefixed message.
func readMsg(r io.Reader) ([]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(n[:]))
	_, err := io.ReadFull(r, msg)
	return msg, err
}

// readResponse reads and unpacks one message.
func readResponse(t testing.TB, r io.Reader) *mdns.Msg {
	t.Helper()
	b, err := readMsg(r)
	require.NoError(t, err)
	m := new(mdns.Msg)
	require.NoError(t, m.Unpack(b))
	return m
}
