package dns_test

import (
	"errors"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
)

// wantClosedByServer waits until the server closes conn.
func wantClosedByServer(t *testing.T, conn net.Conn, why string) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	_, err := conn.Read(make([]byte, 1))
	require.Error(t, err, why)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "%s: the connection is still open", why)
}

// A full listener closes the oldest connection that has had no answer:
// clients that connect and send nothing (or never finish TLS) make room
// for a resolver, and a resolver that was answered keeps its connection.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, dnsmod.Options{MaxConnections: 3, IdleTimeout: component.Duration(time.Hour)}, testutil.NewBundle(t, c), nil)
	resolver := dial(t, s.Addr(), c.Roots())
	ask := func() {
		_, err := resolver.Write(frame(pack(t, question(1, "istiod.istio-system.svc.", mdns.TypeA))))
		require.NoError(t, err)
		require.Len(t, readResponse(t, resolver).Answer, 1)
	}
	ask()

	var idle []net.Conn
	for range 4 {
		conn, err := net.DialTimeout("tcp", s.Addr(), 10*time.Second)
		require.NoError(t, err)
		defer conn.Close()
		idle = append(idle, conn)
	}
	wantClosedByServer(t, idle[0], "the oldest idle connection")
	wantClosedByServer(t, idle[1], "the next oldest")

	resp := exchange(t, s.Addr(), c.Roots(), question(2, "istiod.istio-system.svc.", mdns.TypeA))
	assert.Len(t, resp.Answer, 1, "a newcomer is answered")
	ask() // the answered resolver kept its connection
	st := s.ConnStats()
	assert.Equal(t, 3, st.Max)
	assert.GreaterOrEqual(t, st.Evicted, uint64(3))
	assert.Zero(t, st.AcceptErrors)
}
