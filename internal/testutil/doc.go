// Package testutil holds the fixtures that bootgraph's tests share: a CA
// and a serving bundle made in a temporary directory, self-signed
// certificates outside any CA, free loopback ports, a listener started for
// the length of a test, and a synthetic composition of any size.
package testutil
