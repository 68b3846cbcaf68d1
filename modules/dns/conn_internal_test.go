package dns

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingConn records the writes that reach the socket.
type recordingConn struct {
	net.Conn // nil: calling anything else panics
	mu       sync.Mutex
	writes   [][]byte
	closed   bool
	deadline time.Time
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *recordingConn) Read([]byte) (int, error) { return 0, errors.New("no more input") }

func (c *recordingConn) SetWriteDeadline(t time.Time) error { c.deadline = t; return nil }

func (c *recordingConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *recordingConn) recorded() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// TestBatchConn: answers leave in one write, before the next read, when a
// TLS record's worth has collected, and on Close; each write has a deadline.
func TestBatchConn(t *testing.T) {
	raw := &recordingConn{}
	l := &batchListener{writeTimeout: time.Minute, conns: map[*batchConn]struct{}{}}
	c := &batchConn{Conn: raw, l: l}
	l.conns[c] = struct{}{}

	for _, answer := range []string{"one", "two", "three"} {
		n, err := c.Write([]byte(answer))
		require.NoError(t, err)
		require.Equal(t, len(answer), n)
	}
	assert.Empty(t, raw.recorded(), "held back until the next read")

	_, err := c.Read(make([]byte, 10))
	require.Error(t, err, "the read reaches the socket")
	assert.Equal(t, [][]byte{[]byte("onetwothree")}, raw.recorded(), "one write before the read")
	assert.WithinDuration(t, time.Now().Add(time.Minute), raw.deadline, 10*time.Second)

	_, err = c.Read(make([]byte, 10))
	require.Error(t, err)
	assert.Len(t, raw.recorded(), 1, "nothing held back, nothing written")

	big := bytes.Repeat([]byte{'x'}, flushThreshold)
	_, err = c.Write(big)
	require.NoError(t, err)
	assert.Len(t, raw.recorded(), 2, "a full record's worth is written at once")

	_, err = c.Write([]byte("last"))
	require.NoError(t, err)
	assert.Equal(t, 1, l.openConns())
	require.NoError(t, c.Close())
	assert.Equal(t, []byte("last"), raw.recorded()[2], "Close writes what is held back")
	assert.True(t, raw.closed)
	assert.Zero(t, l.openConns(), "a closed connection is no longer tracked")
}

// TestLookup: the longest enclosing zone answers for a name it lacks; the
// root zone encloses every name.
func TestLookup(t *testing.T) {
	for _, tt := range []struct {
		zones []string
		name  string
		want  string
	}{
		{[]string{"svc.", "istio-system.svc."}, "x.istio-system.svc.", "istio-system.svc."},
		{[]string{"svc.", "istio-system.svc."}, "x.other.svc.", "svc."},
		{[]string{"istio-system.svc."}, "svc.", ""},
		{[]string{"."}, "anything.example.", "."},
	} {
		opts := Options{Zones: tt.zones}
		opts.SetDefaults()
		table, _, err := buildTable(opts, []string{"ns.example"}, nil)
		require.NoError(t, err)
		w, err := wireName(tt.name)
		require.NoError(t, err)
		got := table.lookup([]byte(w), 1)
		if tt.want == "" {
			assert.Same(t, table.refused, got, tt.name)
			continue
		}
		zone, err := wireName(tt.want)
		require.NoError(t, err)
		assert.Same(t, table.zones[zone], got, "%s in %v", tt.name, tt.zones)
	}
}
