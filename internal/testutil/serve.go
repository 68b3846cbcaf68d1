package testutil

import (
	"context"
	"testing"
	"time"
)

// Server is what the plane's listeners are for a test.
type Server interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Start starts s and stops it, within 10s, when the test ends unless the
// test stopped it first (the plane's listeners may be stopped twice).
func Start(tb testing.TB, s Server) {
	tb.Helper()
	if err := s.Start(context.Background()); err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
}
