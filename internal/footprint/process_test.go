package footprint_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/bootgraph/bootgraph/internal/footprint"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ReadMemory reads the four figures of a live process, and RSS is its
// anonymous plus its file-backed part (this process has no shared memory
// to speak of); a process that is gone is an error.
func TestReadMemory(t *testing.T) {
	m, err := footprint.ReadMemory(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, m.Anon)
	assert.Positive(t, m.File)
	assert.GreaterOrEqual(t, m.HWM, m.RSS)
	assert.InDelta(t, m.RSS, m.Anon+m.File, 1<<20, "RSS = anon + file: %+v", m)

	_, err = footprint.ReadMemory(1 << 30) // above any pid_max
	assert.Error(t, err)
}
