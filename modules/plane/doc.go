// Package plane holds the small vocabulary that bootgraph's modules share:
// the Listener interface through which every listener reports readiness, the
// value-group names that modules join, and the Duration type of config files.
//
// It has no dependencies on the modules themselves, so any module, ours or a
// library user's, can import it without cycles.
package plane
