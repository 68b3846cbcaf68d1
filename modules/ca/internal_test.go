package ca

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/bootgraph/bootgraph/component"
)

func TestCheckExpiry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c, err := New(Options{
		DataDir:        t.TempDir(),
		RootTTL:        component.Duration(10 * time.Hour),
		DefaultCertTTL: component.Duration(time.Hour),
	}, nil, NewMetrics(reg))
	require.NoError(t, err)
	root := c.SigningCert()
	// The root lives from NotBefore (now-2m) to NotAfter (now+10h); the grace
	// period is the last 20% of that.
	life := root.NotAfter.Sub(root.NotBefore)
	graceStart := root.NotAfter.Add(-time.Duration(float64(life) * expiryGraceFactor))

	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{name: "fresh", now: root.NotBefore, want: false},
		{name: "now", now: time.Now(), want: false},
		{name: "just before the grace period", now: graceStart.Add(-time.Minute), want: false},
		{name: "just inside the grace period", now: graceStart.Add(time.Minute), want: true},
		{name: "a minute before expiry", now: root.NotAfter.Add(-time.Minute), want: true},
		{name: "expired", now: root.NotAfter.Add(time.Hour), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, c.checkExpiry(tt.now))
		})
	}

	// checkExpiry keeps the expiry gauge current.
	c.metrics.rootExpiry.Set(0)
	c.checkExpiry(time.Now())
	var m dto.Metric
	require.NoError(t, c.metrics.rootExpiry.Write(&m))
	assert.Equal(t, float64(root.NotAfter.Unix()), m.GetGauge().GetValue())
}

func TestCodeOf(t *testing.T) {
	t.Parallel()
	for kind, want := range map[ErrorKind]codes.Code{
		ErrCSR:         codes.InvalidArgument,
		ErrTTL:         codes.InvalidArgument,
		ErrNoIdentity:  codes.InvalidArgument,
		ErrCANotReady:  codes.Internal,
		ErrCertGen:     codes.Internal,
		errKindUnknown: codes.Internal,
	} {
		assert.Equalf(t, want, codeOf(kind), "codeOf(%q)", kind)
	}
}

func TestValidity(t *testing.T) {
	t.Parallel()
	maxSecs := int64(math.MaxInt64 / time.Second)
	for _, tt := range []struct {
		secs int64
		want time.Duration
	}{
		{0, 0},
		{1, time.Second},
		{-1, -time.Second},
		{3600, time.Hour},
		{maxSecs, time.Duration(maxSecs) * time.Second},
		{maxSecs + 1, math.MaxInt64},
		{18446744074, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64},
		{-maxSecs, -time.Duration(maxSecs) * time.Second},
		{-maxSecs - 1, math.MinInt64},
		{math.MinInt64, math.MinInt64},
	} {
		assert.Equalf(t, tt.want, validity(tt.secs), "validity(%d)", tt.secs)
	}
}

func TestSignWithoutAuthority(t *testing.T) {
	t.Parallel()
	// A CA that was never loaded reports CA_NOT_READY rather than panicking.
	var c CA
	_, err := c.Sign([]byte("csr"), []string{"spiffe://cluster.local/ns/a/sa/b"}, 0)
	require.Error(t, err)
	assert.Equal(t, ErrCANotReady, KindOf(err))
}
