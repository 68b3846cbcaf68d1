package webhook_test

import (
	"bytes"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/bootgraph/bootgraph/modules/webhook"
)

// BenchmarkAdmissionRoundTrip posts AdmissionReviews over TLS (HTTP/2, kept
// alive) from parallel clients and reports reviews/s and the p50 and p99
// round-trip latency. Client and server share the machine.
func BenchmarkAdmissionRoundTrip(b *testing.B) {
	f := start(b, webhook.Options{}, webhook.Handler{Path: "/validate", Handler: webhook.Admission(denyPrivileged)})
	body := review(b, "bench", map[string]string{"app": "web"})
	url := f.url("/validate")

	var mu sync.Mutex
	latencies := make([]time.Duration, 0, b.N)
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	begin := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			t0 := time.Now()
			resp, err := f.client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	elapsed := time.Since(begin)
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if len(latencies) > 0 {
		b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "reviews/s")
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
	}
}
