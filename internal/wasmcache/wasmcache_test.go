package wasmcache_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/internal/wasmcache"
)

// The process's temp dir is private: this user's, 0700.
func TestPrivateDir(t *testing.T) {
	require.NotEmpty(t, wasmcache.Dir)
	st, err := os.Stat(wasmcache.Dir)
	require.NoError(t, err)
	assert.True(t, st.IsDir())
	assert.Zero(t, st.Mode().Perm()&0o077, "%v", st.Mode().Perm())
	assert.Equal(t, wasmcache.Dir, os.TempDir())
}

// A second user of the host can draw the graph although the first left a
// go-graphviz cache in the shared temp dir: before, `bootgraph graph
// --format svg` panicked in go-graphviz's init (permission denied). It
// needs root to act as two users; CI runs as root.
func TestSecondUserOfTheHost(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a command as another user")
	}
	shared, err := os.MkdirTemp(wasmcache.Shared, "shared-tmp")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(shared) })
	require.NoError(t, os.Chmod(shared, 0o1777)) // like /tmp
	// The first user (root here) leaves its cache, 0755, in the shared dir.
	require.NoError(t, os.MkdirAll(filepath.Join(shared, "go-graphviz", "wazero-v1.10.1-amd64-linux"), 0o755))

	bin := filepath.Join(shared, "bootgraph")
	build := exec.Command("go", "build", "-o", bin, "github.com/bootgraph/bootgraph/cmd/bootgraph")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.Chmod(bin, 0o755))

	// The second user: nobody.
	cmd := exec.Command(bin, "graph", "--format", "svg", "--data-dir", filepath.Join(shared, "none"))
	cmd.Env = []string{"TMPDIR=" + shared, "HOME=" + shared, "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.True(t, strings.HasPrefix(string(out), "<?xml") || strings.Contains(string(out), "<svg"), "%.200s", out)
	assert.NotContains(t, string(out), "panic")
	_, err = os.Stat(filepath.Join(shared, fmt.Sprintf("bootgraph-%d", 65534)))
	assert.NoError(t, err, "the second user's private temp dir")
}
