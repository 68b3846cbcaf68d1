// Package footprint measures a plane as an operator sees it: the resident
// memory of its process (VmRSS, VmHWM from /proc) idle and after load, and
// the wall time from exec to its first ready answer. Each figure is taken
// beside a floor measured the same way in the same run: a program that
// does nothing but link a plane's heaviest dependencies (floor-kube:
// client-go's clientset and gRPC; floor-grpc: gRPC only) and answer
// GET /ready, so that a figure reads as "this much above what any plane
// with these dependencies costs" on whatever machine it runs.
//
// The benchmarks that use it are BenchmarkFootprint and BenchmarkStart in
// the root package; scripts/bench.sh runs them.
package footprint
