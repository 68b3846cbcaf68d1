package xds_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	grpcmod "github.com/bootgraph/bootgraph/modules/grpc"
)

// SIGTERM to a plane process with 200 open xDS streams (half state of the
// world, half delta) and 50 unary calls in flight: the process exits 0
// within the drain deadline plus a second, the unary calls complete, every
// stream ends with UNAVAILABLE, and nothing is logged at error level.
func TestSIGTERMDrainsStreamsAndCalls(t *testing.T) {
	t.Parallel()
	p := startTestPlane(t)
	p.publish(t, "v0")
	f := newFleet(t, p.addr, p.ca, 200, func(i int) bool { return i%2 == 1 }, "v0")

	const calls = 50
	type result struct {
		err error
		at  time.Time
	}
	results := make(chan result, calls)
	for range calls {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			err := p.ctl.Invoke(ctx, "/bootgraph.test.Plane/Slow", wrapperspb.String("2s"), &emptypb.Empty{})
			results <- result{err, time.Now()}
		}()
	}
	p.call(t, "WaitInFlight", wrapperspb.Int64(calls), &emptypb.Empty{})

	sent := time.Now()
	p.terminate(t)
	for i, m := range f.members {
		err := wait(t, m.ended, fmt.Sprintf("the end of stream %d", i))
		require.Equal(t, codes.Unavailable, status.Code(err), "stream %d: %v", i, err)
	}
	streamsEnded := time.Since(sent)
	for i := range calls {
		r := wait(t, results, "a unary call's end")
		assert.NoError(t, r.err, "unary call %d completes", i)
		assert.True(t, r.at.After(sent), "unary call %d was in flight during the drain", i)
	}
	require.NoError(t, wait(t, p.exited, "the exit"), "exit status; log:\n%s", p.stderr)
	took := time.Since(sent)
	assert.Less(t, took, grpcmod.DefaultDrainTimeout+time.Second, "exit within the drain deadline plus one second; log:\n%s", stopLog(p.stderr.String()))
	var errorLines []string
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(line, `"level":"error"`) || strings.Contains(line, `"level":"fatal"`) {
			errorLines = append(errorLines, line)
		}
	}
	assert.Empty(t, errorLines, "nothing logged at error level")
	assert.Contains(t, p.stderr.String(), `"msg":"plane stopped"`)
	t.Logf("SIGTERM: 200 streams ended with UNAVAILABLE within %v; 50 in-flight 2s calls completed; exit 0 after %v (drain deadline %v)",
		streamsEnded.Round(time.Millisecond), took.Round(time.Millisecond), grpcmod.DefaultDrainTimeout)
}

// fanOut is what measureFanOut found.
type fanOut struct {
	streams        int
	pushes         []time.Duration // snapshot change to the last stream's receipt
	heapPerStream  float64         // bytes
	rssPerStream   float64         // bytes
	goroutinesEach float64
	cpuPerPush     time.Duration // server CPU per push per stream
}

// measureFanOut holds n idle ADS streams on a test plane (each client its
// own identity and connection), then publishes pushes snapshot changes,
// one at a time, and measures how long until the last stream has each.
func measureFanOut(t testing.TB, n, pushes int) fanOut {
	t.Helper()
	b, isBench := t.(*testing.B)
	if isBench {
		b.StopTimer() // time the pushes only
	}
	p := startTestPlane(t)
	p.publish(t, "v0")
	before := p.stats(t, true)
	f := newFleet(t, p.addr, p.ca, n, func(int) bool { return false }, "v0")
	idle := p.stats(t, true)
	out := fanOut{
		streams:        n,
		heapPerStream:  float64(int64(idle.HeapInuse)-int64(before.HeapInuse)) / float64(n),
		rssPerStream:   float64(int64(idle.RSS)-int64(before.RSS)) / float64(n),
		goroutinesEach: float64(idle.Goroutines-before.Goroutines) / float64(n),
	}
	cpu := p.stats(t, false).CPUNanos
	if isBench {
		b.StartTimer()
	}
	for i := 1; i <= pushes; i++ {
		v := fmt.Sprintf("v%d", i)
		f.expect(v, n)
		begin := time.Now()
		p.publish(t, v)
		out.pushes = append(out.pushes, f.wait(t, "push "+v).Sub(begin))
	}
	if isBench {
		b.StopTimer()
	}
	cpu = p.stats(t, false).CPUNanos - cpu
	out.cpuPerPush = time.Duration(cpu / int64(pushes*n))
	return out
}

// 1,000 idle ADS streams from one test process are held, and every one
// receives a snapshot change within 2s. Not parallel: the package's other
// tests wait, so that it measures the plane, not them.
func TestFanOutTo1000Streams(t *testing.T) {
	r := measureFanOut(t, 1000, 5)
	var worst time.Duration
	for _, d := range r.pushes {
		worst = max(worst, d)
	}
	assert.Less(t, worst, 2*time.Second, "every stream has the change within 2s: %v", r.pushes)
	t.Logf("%d idle streams: heap %.1f KiB/stream, RSS %.1f KiB/stream, %.1f goroutines/stream; "+
		"push to the last stream: %v (worst %v); server CPU %v per push per stream",
		r.streams, r.heapPerStream/1024, r.rssPerStream/1024, r.goroutinesEach, r.pushes, worst, r.cpuPerPush)
}

// BenchmarkPushFanOut measures one snapshot change reaching every one of
// N idle ADS streams on a plane process: ns/op is the time from the change
// to the last stream's receipt; it also reports the plane's CPU per push
// per stream and its memory per idle stream.
func BenchmarkPushFanOut(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			r := measureFanOut(b, n, b.N)
			var total time.Duration
			for _, d := range r.pushes {
				total += d
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(float64(r.cpuPerPush.Nanoseconds()), "server-cpu-ns/push/stream")
			b.ReportMetric(r.heapPerStream, "server-heap-B/stream")
			b.ReportMetric(r.rssPerStream, "server-rss-B/stream")
		})
	}
}

// stopLog is the plane's log from its "stopping" line on, without the
// clients' disconnects.
func stopLog(log string) string {
	_, after, _ := strings.Cut(log, `"msg":"stopping"`)
	var out []string
	for _, line := range strings.Split(after, "\n") {
		if !strings.Contains(line, "xDS client disconnected") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
