package ca

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// The signing window at any moment: refused before it and from its end on,
// and inside it a validity that never leaves it, in whole seconds.
func TestAuthorityValidity(t *testing.T) {
	t.Parallel()
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	until := from.Add(10 * time.Hour)
	a := &authority{validFrom: from, validUntil: until,
		validFromCert: "the signing certificate (ca-cert.pem)", validUntilCert: "its issuer CN=Root"}
	tests := []struct {
		name          string
		now           time.Time
		ttl           time.Duration
		wantNotBefore time.Time
		wantNotAfter  time.Time
		wantErr       string
	}{
		{name: "before the window (clock behind)", now: from.Add(-time.Second), ttl: time.Hour,
			wantErr: "the CA cannot sign: the signing certificate (ca-cert.pem) is not valid before 2030-01-01T00:00:00Z (now 2029-12-31T23:59:59Z); check the clock"},
		{name: "at its start: no backdating before the signer", now: from, ttl: time.Hour, wantNotBefore: from, wantNotAfter: from.Add(time.Hour)},
		{name: "a minute in: backdating clamped", now: from.Add(time.Minute), ttl: time.Hour, wantNotBefore: from, wantNotAfter: from.Add(time.Hour + time.Minute)},
		{name: "an hour in: backdated 2m", now: from.Add(time.Hour), ttl: time.Hour, wantNotBefore: from.Add(58 * time.Minute), wantNotAfter: from.Add(2 * time.Hour)},
		{name: "near its end: NotAfter clamped", now: until.Add(-30 * time.Minute), ttl: time.Hour, wantNotBefore: until.Add(-32 * time.Minute), wantNotAfter: until},
		{name: "sub-second times are rounded inwards", now: from.Add(time.Hour + 700*time.Millisecond), ttl: time.Hour,
			wantNotBefore: from.Add(58*time.Minute + time.Second), wantNotAfter: from.Add(2 * time.Hour)},
		{name: "half a second before its end", now: until.Add(-500 * time.Millisecond), ttl: time.Hour, wantNotBefore: until.Add(-2 * time.Minute), wantNotAfter: until},
		{name: "at its end", now: until, ttl: time.Hour, wantErr: "the CA cannot sign: its issuer CN=Root expired at 2030-01-01T10:00:00Z; rotate the CA"},
		{name: "after its end", now: until.Add(time.Hour), ttl: time.Hour, wantErr: "expired at 2030-01-01T10:00:00Z"},
	}
	for _, tt := range tests {
		nb, na, err := a.validity(tt.now, tt.ttl)
		if tt.wantErr != "" {
			require.Error(t, err, tt.name)
			assert.Contains(t, err.Error(), tt.wantErr, tt.name)
			continue
		}
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.wantNotBefore, nb, tt.name)
		assert.Equal(t, tt.wantNotAfter, na, tt.name)
		assert.False(t, nb.Before(from) || na.After(until) || !nb.Before(na), "%s: %s..%s leaves the window", tt.name, nb, na)
	}

	// A window of under a second: the truncated validity would be empty.
	tiny := &authority{validFrom: from, validUntil: from.Add(time.Second), validUntilCert: "the signing certificate (ca-cert.pem)"}
	_, _, err := tiny.validity(from.Add(999*time.Millisecond), time.Hour)
	require.NoError(t, err, "[from, from+1s] is one second")
	tiny.validFrom = from.Add(500 * time.Millisecond) // not a whole second: only in this test
	_, _, err = tiny.validity(from.Add(900*time.Millisecond), time.Hour)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "leaves no validity for a certificate")
}

// A CA whose signer is not valid yet (the clock is behind) refuses with
// FailedPrecondition and is not ready, as one whose signer expired.
func TestSignerNotValidYetAtRunTime(t *testing.T) {
	t.Parallel()
	c, err := New(Options{DataDir: t.TempDir()}, nil, nil)
	require.NoError(t, err)
	a := *c.state.Load()
	a.validFrom = time.Now().Add(time.Hour)
	c.state.Store(&a)
	err = c.Ready(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not valid before")
	_, err = c.Sign([]byte("csr"), []string{"spiffe://cluster.local/ns/a/sa/b"}, time.Hour)
	assert.Equal(t, ErrSignerNotValid, KindOf(err))
	assert.Equal(t, codes.FailedPrecondition, codeOf(KindOf(err)))
	_, _, err = c.GenKeyCert([]string{"istiod.example"}, time.Hour)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "check the clock")
	assert.True(t, c.checkExpiry(time.Now()), "the background check reports it")
}
