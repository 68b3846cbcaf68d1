// Package graph is bootgraph's model of an fx composition and its renderers.
//
// A Graph lists the modules (and their nesting), every function the
// composition registers — constructors, decorators, invokes, supplied and
// replaced values — with the types each takes and provides, the value groups
// and their members, the lifecycle hooks in predicted start order and, after
// a real start, what happened: each constructor's and hook's duration, which
// hooks ran, what failed. Missing types and cycles are part of the graph, so
// a broken composition can be drawn too.
//
// Renderers turn a Graph into DOT (Graphviz), Mermaid, JSON (the versioned
// schema below), SVG (laid out in Go as the HTML page lays itself out; no
// Graphviz) and a self-contained interactive HTML page (the last two in
// graph/view).
//
// Analyses answer questions about a graph: Timing (each step's own time,
// what an invoke or a hook waited for, the critical path of the start),
// Why (the chain of dependencies that orders two parts, or that nothing
// does), Compare (what differs between two graphs: parts, nodes, edges,
// start order) and MarkInfra (the infrastructure every plane has, which
// pages hide until asked).
//
// The JSON schema is versioned by Graph.Schema ("bootgraph.dev/graph/v1");
// fields are only ever added within a version.
package graph
