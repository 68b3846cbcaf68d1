package dns_test

import (
	"bufio"
	"crypto/tls"
	"sync"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/testutil"
	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
)

// BenchmarkDoTQuery pipelines queries over a few TLS connections, as a
// forwarding resolver would, and reports queries answered per second.
func BenchmarkDoTQuery(b *testing.B) {
	const conns, chunk = 4, 100
	c := testutil.NewCA(b)
	s, _ := startServer(b, dnsmod.Options{}, testutil.NewBundle(b, c), nil, testRecords...)
	query := frame(pack(b, question(1, "istiod.istio-system.svc.", mdns.TypeA)))
	var batch []byte
	for range chunk {
		batch = append(batch, query...)
	}
	clients := make([]*tls.Conn, conns)
	for i := range clients {
		clients[i] = dial(b, s.Addr(), c.Roots())
		require.NoError(b, clients[i].Handshake())
	}

	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, 2*conns)
	for i, conn := range clients {
		n := b.N / conns
		if i < b.N%conns {
			n++
		}
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			for sent := 0; sent < n; sent += chunk {
				if _, err := conn.Write(batch[:min(chunk, n-sent)*len(query)]); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() { // reader
			defer wg.Done()
			r := bufio.NewReader(conn)
			for range n {
				if _, err := readMsg(r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}
