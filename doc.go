// Package bootgraph builds a control plane such as istiod's from fx modules
// whose dependency graph, not statement order, fixes the start order: the CA
// first, then the serving certificate it signs, then the TLS listeners that
// present it, and the CA's own background work last.
//
// A Config (from YAML, istiod-compatible flags and environment variables)
// selects the modules; New turns it into an fx application and accepts any
// further fx.Options a library user adds:
//
//	cfg, err := bootgraph.LoadConfig("plane.yaml")
//	...
//	p, err := bootgraph.New(cfg, fx.Provide(myService))
//	...
//	err = p.Run(ctx) // start, wait for ctx or a signal, stop
//
// A composition that lacks a part, such as the istiod serving-cert provider
// without the CA module, fails in New, before anything starts, with an error
// naming the missing module. A start that fails or times out stops every
// hook that had started (fx itself skips them on a start timeout, fx#1035).
package bootgraph
