package webhook_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/modules/servingcert"
	"github.com/bootgraph/bootgraph/modules/webhook"
)

// BenchmarkAdmissionRoundTrip posts AdmissionReviews over TLS (HTTP/2, kept
// alive) from parallel clients to the webhook server and, as the baseline,
// the same posts with the same client to a trivial TLS server with the
// same listener settings (the same bundle, TLS config and ALPN) that
// echoes the body back. The two take turns in rounds of b.N/rounds posts
// each. It reports the server's reviews/s, µs/review (wall time per
// review at this concurrency), p50 and p99 latency, the echo server's
// baseline-µs/review and baseline-p99-µs, and the ratio of the µs/review.
// Client and server share the machine.
func BenchmarkAdmissionRoundTrip(b *testing.B) {
	const rounds = 4
	f := start(b, webhook.Options{}, webhook.Handler{Path: "/validate", Handler: webhook.Admission(denyPrivileged)})
	echoURL := startEchoServer(b, f.bundle) + "/validate"
	body := review(b, "bench", map[string]string{"app": "web"})
	url := f.url("/validate")
	workers := 8 * runtime.GOMAXPROCS(0) // as b.SetParallelism(8) would

	var server, echo roundTrips
	server.run(b, f.client, url, body, 1, 1) // connect before timing
	echo.run(b, f.client, echoURL, body, 1, 1)
	server, echo = roundTrips{}, roundTrips{}

	b.ReportAllocs()
	b.ResetTimer()
	for r := range rounds {
		n := b.N / rounds
		if r < b.N%rounds {
			n++
		}
		server.run(b, f.client, url, body, n, workers)
		echo.run(b, f.client, echoURL, body, n, workers)
	}
	b.StopTimer()
	if len(server.latencies) == 0 {
		return
	}
	n := float64(len(server.latencies))
	b.ReportMetric(n/server.elapsed.Seconds(), "reviews/s")
	b.ReportMetric(float64(server.elapsed.Nanoseconds())/n/1e3, "µs/review")
	b.ReportMetric(float64(echo.elapsed.Nanoseconds())/n/1e3, "baseline-µs/review")
	b.ReportMetric(float64(server.elapsed)/float64(echo.elapsed), "ratio")
	b.ReportMetric(float64(server.percentile(50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(server.percentile(99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(echo.percentile(99).Microseconds()), "baseline-p99-µs")
}

// roundTrips accumulates the latencies and wall time of posts.
type roundTrips struct {
	latencies []time.Duration
	elapsed   time.Duration
}

// run posts body to url n times from workers goroutines at once.
func (rt *roundTrips) run(b *testing.B, client *http.Client, url string, body []byte, n, workers int) {
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	begin := time.Now()
	for range workers {
		wg.Go(func() {
			var local []time.Duration
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck // the status says
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("%s: status %d", url, resp.StatusCode)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			rt.latencies = append(rt.latencies, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	rt.elapsed += time.Since(begin)
}

func (rt *roundTrips) percentile(p int) time.Duration {
	if len(rt.latencies) == 0 {
		return 0
	}
	sorted := slices.Sorted(slices.Values(rt.latencies))
	return sorted[len(sorted)*p/100]
}

// startEchoServer serves HTTPS on loopback with the webhook server's
// listener settings and a handler that echoes the request body; it
// returns the base URL and stops when the benchmark ends.
func startEchoServer(b *testing.B, bundle *servingcert.Bundle) string {
	b.Helper()
	cfg := bundle.ServerTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body) //nolint:errcheck // the client sees a short body
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(tls.NewListener(l, cfg)) //nolint:errcheck // ends with Close
	}()
	b.Cleanup(func() {
		srv.Close()
		<-done
	})
	return "https://" + l.Addr().String()
}
