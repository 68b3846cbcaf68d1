package dns_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/testutil"
	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// BenchmarkDoTQuery pipelines queries over a few TLS connections, as a
// forwarding resolver would, to the DNS-over-TLS server and, as the
// baseline, to a trivial TLS server with the same listener settings (the
// same bundle, TLS config and ALPN) that echoes each framed message back.
// The two take turns in rounds of b.N/rounds queries each; it reports the
// server's µs/query and queries/s, the echo server's baseline-µs/query,
// and their ratio.
func BenchmarkDoTQuery(b *testing.B) {
	const conns, rounds = 4, 4
	c := testutil.NewCA(b)
	bundle := testutil.NewBundle(b, c)
	s, _ := startServer(b, dnsmod.Options{}, bundle, nil, testRecords...)
	echo := startEchoServer(b, bundle)
	query := frame(pack(b, question(1, "istiod.istio-system.svc.", mdns.TypeA)))
	dot, baseline := dialAll(b, s.Addr(), c.Roots(), conns), dialAll(b, echo, c.Roots(), conns)

	b.ReportAllocs()
	b.ResetTimer()
	var dotTime, echoTime time.Duration
	for r := range rounds {
		n := b.N / rounds
		if r < b.N%rounds {
			n++
		}
		dotTime += pipeline(b, dot, query, n)
		echoTime += pipeline(b, baseline, query, n)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(n/dotTime.Seconds(), "queries/s")
	b.ReportMetric(float64(dotTime.Nanoseconds())/n/1e3, "µs/query")
	b.ReportMetric(float64(echoTime.Nanoseconds())/n/1e3, "baseline-µs/query")
	b.ReportMetric(float64(dotTime)/float64(echoTime), "ratio")
}

func dialAll(b *testing.B, addr string, roots *x509.CertPool, n int) []*tls.Conn {
	b.Helper()
	conns := make([]*tls.Conn, n)
	for i := range conns {
		conns[i] = dial(b, addr, roots)
		require.NoError(b, conns[i].Handshake())
		require.NoError(b, conns[i].SetDeadline(time.Time{}))
	}
	return conns
}

// pipeline writes n copies of the framed query spread over conns, in
// batches, while reading as many framed answers, and returns the time
// taken.
func pipeline(b *testing.B, conns []*tls.Conn, query []byte, n int) time.Duration {
	const chunk = 100
	batch := make([]byte, 0, chunk*len(query))
	for range chunk {
		batch = append(batch, query...)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(conns))
	begin := time.Now()
	for i, conn := range conns {
		count := n / len(conns)
		if i < n%len(conns) {
			count++
		}
		wg.Go(func() { // writer
			for sent := 0; sent < count; sent += chunk {
				if _, err := conn.Write(batch[:min(chunk, count-sent)*len(query)]); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() { // reader
			r := bufio.NewReader(conn)
			for range count {
				if _, err := readMsg(r); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return elapsed
}

// startEchoServer serves TLS on loopback with the DNS server's listener
// settings and echoes every framed message back in one write, as the
// server answers each query; it stops when the benchmark ends.
func startEchoServer(b *testing.B, bundle *servingcert.Bundle) string {
	b.Helper()
	cfg := bundle.ServerTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{dnsmod.ALPN}})
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(b, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, conn)
			mu.Unlock()
			wg.Go(func() { echoFrames(conn) })
		}
	})
	b.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// echoFrames writes each length-prefixed message read from conn back to
// it until the connection ends.
func echoFrames(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		msg, err := readMsg(r)
		if err != nil {
			return // the client closed, or the benchmark ended
		}
		if _, err := conn.Write(frame(msg)); err != nil {
			return
		}
	}
}
