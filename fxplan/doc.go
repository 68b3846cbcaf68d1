// Package fxplan plans any go.uber.org/fx application without running it:
// it reads what the options register (through internal/fxopts, the only
// reader of fx's internals) and simulates dig's resolution, so it can tell,
// before a single constructor runs, what fx would build, in which order,
// which lifecycle hooks would be appended and in which order, and what
// would fail.
//
// Plan returns the graph (see package graph): modules, functions, value
// groups, hooks, and problems drawn on it. Analyze returns the same graph
// with the problems as findings a program can act on: each missing type
// with its Go type and the chain of functions that need it, each cycle step
// by step (a value group named as a group), each error the options carry.
// bootgraph's engine builds its composition errors from these findings
// instead of running fx's dry run (fx.ValidateApp); TestPlanAgreesWithFx
// holds the planner's verdict to fx's on a corpus of compositions.
//
// An option the planner cannot read is reported (Analysis.Unknown, and a
// problem of kind "unknown-option" in the graph), never dropped silently.
package fxplan
