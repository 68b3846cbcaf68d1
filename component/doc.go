// Package component is the small vocabulary that a control plane's parts
// share, and the way a part describes itself.
//
// A part is a module of a plane (the CA, the serving certificate, a
// listener, a user's own service): its fx module, and a description of it
// for the config layer, the CLI and the engine's hints: its name, what it
// is for, its options with their defaults, whether it is on by default, the
// flags and environment variables that set its options, and the types it
// provides. Define builds a Part from a Definition; a part's package
// registers it (Register) so that the engine can name it in a hint when a
// composition lacks it.
//
// Parts meet in the graph through values, never through hidden settings:
//
//   - Env: where the plane runs (namespace, data directory), supplied by
//     the config layer or a program, with defaults when absent;
//   - Cluster: provided by the part that connects the plane to Kubernetes;
//     its absence means local mode;
//   - Listener (group "bootgraph.listeners"): every network listener, for
//     readiness and for what must start after every listener;
//   - ListenAddr (group "bootgraph.listen-addrs"): each listener's
//     configured address, so the serving certificate can name loopback
//     when a listener binds it.
//
// The package depends on fx alone (and zap for its logging helpers), so the
// engine, any part and any program can import it without pulling in gRPC
// or client-go.
package component
