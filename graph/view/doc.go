// Package view renders graphs for people: SVG, laid out by Graphviz
// compiled to WebAssembly (no system Graphviz), and the interactive HTML
// page, which draws the graph itself in the browser — an overview of the
// modules first, each expanding in place, infrastructure behind a switch,
// the start timeline with its critical path, live status when served by a
// running plane, differences between two graphs, export as SVG or PNG —
// from one self-contained file that fetches nothing.
//
// It is a package of its own so that a program that embeds the engine
// without drawing does not link Graphviz. Package viewtest drives the page
// in Chromium for tests.
package view
