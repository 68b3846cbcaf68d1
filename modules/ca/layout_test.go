package ca_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/pemutil"
)

// assertGeneration checks the layout pemutil.WriteGeneration leaves in
// dir: dir 0700 holding exactly names, each a symlink to ..data/<name>,
// the ..data link, and the one generation it names, holding exactly names,
// each 0600; nothing else (no temp file, no older generation).
func assertGeneration(t *testing.T, dir string, names ...string) {
	t.Helper()
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o700), st.Mode().Perm(), "mode of %s", dir)
	gen, err := os.Readlink(filepath.Join(dir, pemutil.DataLink))
	require.NoError(t, err, "%s must name the current generation", pemutil.DataLink)
	want := append([]string{pemutil.DataLink, gen}, names...)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	assert.ElementsMatch(t, want, got, "entries of %s: no temporary file or older generation may be left", dir)
	genEntries, err := os.ReadDir(filepath.Join(dir, gen))
	require.NoError(t, err)
	got = got[:0]
	for _, e := range genEntries {
		got = append(got, e.Name())
		fi, err := e.Info()
		require.NoError(t, err)
		assert.Equal(t, fs.FileMode(0o600), fi.Mode(), "mode of %s in the generation", e.Name())
	}
	assert.ElementsMatch(t, names, got, "files of the generation")
	for _, n := range names {
		link, err := os.Readlink(filepath.Join(dir, n))
		require.NoError(t, err, "%s must be a symlink", n)
		assert.Equal(t, filepath.Join(pemutil.DataLink, n), link)
	}
}
