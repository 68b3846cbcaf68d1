package dns

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuildTableSelfNames: of the certificate's names, those that are IP
// addresses, that DNS cannot carry or that lie outside every zone are not
// served, and are no error; the others are.
func TestBuildTableSelfNames(t *testing.T) {
	opts := Options{Zones: []string{DefaultZone}}
	opts.SetDefaults()
	table, skipped, err := buildTable(opts, []string{"istiod.istio-system.svc", "localhost", "127.0.0.1", "::1", "x..y"}, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"localhost", "127.0.0.1", "::1", "x..y"}, skipped)
	w, err := wireName("istiod.istio-system.svc.")
	require.NoError(t, err)
	assert.Contains(t, table.names, w, "the name inside the zone is served")
	for _, name := range []string{"localhost.", "x.y."} {
		w, err := wireName(name)
		require.NoError(t, err)
		assert.NotContains(t, table.names, w, name)
	}

	_, skipped, err = buildTable(opts, nil, nil)
	require.NoError(t, err, "a bundle without a certificate: no own names")
	assert.Empty(t, skipped)
}
