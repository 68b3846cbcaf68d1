package component

import (
	"net"

	"go.uber.org/zap"
)

// NewGate exposes the accept gate to the tests: l guarded for b, at most
// max connections, reporting to log.
func NewGate(l net.Listener, b *Binding, max int, log *zap.Logger) net.Listener {
	return newGate(l, b, max, log)
}

// SetOpenFileLimit makes the bindings see limit as the process's
// open-file limit until the returned function restores the real one.
func SetOpenFileLimit(limit uint64) (restore func()) {
	fileLimitForTest.Store(limit)
	return func() { fileLimitForTest.Store(0) }
}
