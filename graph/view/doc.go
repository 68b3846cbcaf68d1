// Package view renders graphs for people: SVG, and the interactive HTML
// page, which draws the graph itself in the browser — an overview of the
// modules first, each expanding in place, infrastructure behind a switch,
// the start timeline with its critical path, live status when served by a
// running plane, differences between two graphs, export as SVG or PNG —
// from one self-contained file that fetches nothing.
//
// Both are laid out by one layered (Sugiyama) layout: page/layout.js in
// the browser and its port to Go (layout.go) for SVG, held to give the
// same coordinates by a test. SVG is pure Go: no Graphviz, nothing
// compiled or cached, and nothing done when the package is initialised,
// so a program pays for drawing only when it draws. Package viewtest
// drives the page in Chromium for tests.
package view
