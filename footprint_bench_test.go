package bootgraph_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/bootgraph/bootgraph/internal/footprint"
)

// Run these with -benchtime 1x: one run measures several rounds itself.
const (
	footprintRounds = 3     // alternated plane and floor starts per figure
	footprintCerts  = 10000 // certificates issued before the "after load" figures
	idleSettle      = time.Second
	startRounds     = 20
	readyPoll       = 200 * time.Microsecond
)

// footprintBinaries are the programs measured, built once per benchmark.
type footprintBinaries struct {
	serve, caOnly, floorKube, floorGRPC string
}

func buildFootprintBinaries(b *testing.B) footprintBinaries {
	b.Helper()
	dir := b.TempDir()
	var bins footprintBinaries
	for pkg, bin := range map[string]*string{
		"./cmd/bootgraph":                 &bins.serve,
		"./examples/ca-only":              &bins.caOnly,
		"./internal/footprint/floor-kube": &bins.floorKube,
		"./internal/footprint/floor-grpc": &bins.floorGRPC,
	} {
		path, err := footprint.Build(".", pkg, dir)
		if err != nil {
			b.Fatal(err)
		}
		*bin = path
	}
	return bins
}

// BenchmarkFootprint reports the resident memory of `bootgraph serve` (the
// default plane) and of examples/ca-only, idle and after issuing
// footprintCerts certificates over TLS, each beside its floor started the
// same way in the same rounds: floor-kube (client-go and gRPC linked) for
// serve, floor-grpc (gRPC only) for ca-only. Figures are the medians over
// footprintRounds alternated starts; ratio is idle RSS over the floor's.
func BenchmarkFootprint(b *testing.B) {
	bins := buildFootprintBinaries(b)
	for _, bc := range []struct {
		name         string
		plane, floor string
		start        func(b *testing.B, bin, dataDir string) (*footprint.Process, string)
	}{
		{"serve", bins.serve, bins.floorKube, startServe},
		{"ca-only", bins.caOnly, bins.floorGRPC, startCAOnly},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var idle, loaded, floor []footprint.Memory
			for range footprintRounds {
				p, _ := startFloor(b, bc.floor)
				floor = append(floor, idleMemory(b, p))
				stopProcess(b, p)

				dataDir := b.TempDir()
				p, grpcAddr := bc.start(b, bc.plane, dataDir)
				idle = append(idle, idleMemory(b, p))
				if err := footprint.IssueCertificates(context.Background(), dataDir, grpcAddr, footprintCerts, 8); err != nil {
					b.Fatal(err)
				}
				loaded = append(loaded, readMemory(b, p))
				stopProcess(b, p)
			}
			rss, floorRSS := medianOf(idle, rssOf), medianOf(floor, rssOf)
			b.ReportMetric(mb(rss), "rss-MiB")
			b.ReportMetric(mb(medianOf(idle, hwmOf)), "hwm-MiB")
			b.ReportMetric(mb(medianOf(loaded, rssOf)), "rss-10k-MiB")
			b.ReportMetric(mb(medianOf(loaded, hwmOf)), "hwm-10k-MiB")
			b.ReportMetric(mb(floorRSS), "floor-rss-MiB")
			b.ReportMetric(float64(rss)/float64(floorRSS), "ratio")
			// RSS apart: what the process allocated, and the binary's pages.
			anon, floorAnon := medianOf(idle, anonOf), medianOf(floor, anonOf)
			b.ReportMetric(mb(anon), "anon-MiB")
			b.ReportMetric(mb(floorAnon), "floor-anon-MiB")
			b.ReportMetric(float64(anon)/float64(floorAnon), "anon-ratio")
			b.ReportMetric(mb(medianOf(idle, fileOf)), "file-MiB")
			b.ReportMetric(mb(medianOf(floor, fileOf)), "floor-file-MiB")
			b.ReportMetric(mb(fileSize(b, bc.plane)), "binary-MiB")
			b.ReportMetric(mb(fileSize(b, bc.floor)), "floor-binary-MiB")
		})
	}
}

// BenchmarkStart reports the wall time from exec of `bootgraph serve` with
// a persisted CA (the second start on one data directory) to its first
// 200 from /ready on the monitoring listener, beside floor-kube's exec to
// its first 200 from /ready, alternated over startRounds starts each:
// medians, 90th percentiles and the ratio of the medians.
func BenchmarkStart(b *testing.B) {
	bins := buildFootprintBinaries(b)
	dataDir := b.TempDir()
	p, _ := startServe(b, bins.serve, dataDir) // persists the CA
	stopProcess(b, p)

	var plane, floor []time.Duration
	for range startRounds {
		begin := time.Now()
		p, _ := startServe(b, bins.serve, dataDir)
		plane = append(plane, time.Since(begin))
		stopProcess(b, p)

		begin = time.Now()
		p, _ = startFloor(b, bins.floorKube)
		floor = append(floor, time.Since(begin))
		stopProcess(b, p)
	}
	slices.Sort(plane)
	slices.Sort(floor)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
	b.ReportMetric(ms(plane[len(plane)/2]), "start-ms")
	b.ReportMetric(ms(plane[len(plane)*9/10]), "start-p90-ms")
	b.ReportMetric(ms(floor[len(floor)/2]), "floor-start-ms")
	b.ReportMetric(ms(floor[len(floor)*9/10]), "floor-start-p90-ms")
	b.ReportMetric(float64(plane[len(plane)/2])/float64(floor[len(floor)/2]), "ratio")
}

// startServe starts `bootgraph serve` on free loopback ports, returns once
// /ready answers 200, and returns the process and the gRPC address.
func startServe(b *testing.B, bin, dataDir string) (*footprint.Process, string) {
	b.Helper()
	grpcAddr, monitoring := freeAddrB(b), freeAddrB(b)
	p, err := footprint.Start(bin, "serve", "--data-dir", dataDir, "--grpc-addr", grpcAddr,
		"--webhook-addr", freeAddrB(b), "--dns-addr", freeAddrB(b), "--monitoring-addr", monitoring, "--log-level", "warn")
	if err != nil {
		b.Fatal(err)
	}
	waitProcessReady(b, p, monitoring)
	return p, grpcAddr
}

// startCAOnly starts examples/ca-only, which has no monitoring listener
// and prints "ready grpc=<addr>" once serving.
func startCAOnly(b *testing.B, bin, dataDir string) (*footprint.Process, string) {
	b.Helper()
	p, err := footprint.Start(bin, "--data-dir", dataDir, "--addr", loopbackAnyPort)
	if err != nil {
		b.Fatal(err)
	}
	addr, err := p.ReadyLine("ready grpc=")
	if err != nil {
		b.Fatal(err)
	}
	return p, addr
}

func startFloor(b *testing.B, bin string) (*footprint.Process, string) {
	b.Helper()
	addr := freeAddrB(b)
	p, err := footprint.Start(bin, "-addr", addr)
	if err != nil {
		b.Fatal(err)
	}
	waitProcessReady(b, p, addr)
	return p, addr
}

func waitProcessReady(b *testing.B, p *footprint.Process, addr string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := footprint.WaitReady(ctx, addr, readyPoll); err != nil {
		_ = p.Stop() // failing anyway
		b.Fatal(err)
	}
}

func stopProcess(b *testing.B, p *footprint.Process) {
	b.Helper()
	if err := p.Stop(); err != nil {
		b.Fatalf("process %d: %v", p.Pid(), err)
	}
}

// idleMemory reads the memory once the process has been idle for
// idleSettle after becoming ready.
func idleMemory(b *testing.B, p *footprint.Process) footprint.Memory {
	b.Helper()
	time.Sleep(idleSettle)
	return readMemory(b, p)
}

func readMemory(b *testing.B, p *footprint.Process) footprint.Memory {
	b.Helper()
	m, err := footprint.ReadMemory(p.Pid())
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func rssOf(m footprint.Memory) int64  { return m.RSS }
func hwmOf(m footprint.Memory) int64  { return m.HWM }
func anonOf(m footprint.Memory) int64 { return m.Anon }
func fileOf(m footprint.Memory) int64 { return m.File }

func medianOf(ms []footprint.Memory, field func(footprint.Memory) int64) int64 {
	vs := make([]int64, len(ms))
	for i, m := range ms {
		vs[i] = field(m)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

func mb(bytes int64) float64 { return float64(bytes) / (1 << 20) }

func fileSize(b *testing.B, path string) int64 {
	b.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(fmt.Errorf("binary: %w", err))
	}
	return fi.Size()
}
