// Package wasmcache keeps go-graphviz's compiled WebAssembly out of a
// directory another user controls. go-graphviz compiles Graphviz when the
// program starts (its package init) and caches the result in
// $TMPDIR/go-graphviz, shared by every user of the host: a second user
// could not start bootgraph at all (the cache directory is the first
// user's, 0755, and go-graphviz panics on the write), and compiled code
// read from a directory another user can write is code that user chose.
//
// Importing this package first (package graph/view does) points TMPDIR at
// a private directory of this user's before go-graphviz initialises: Go
// initialises packages in import-path order among those ready, and this
// one's path sorts before github.com/goccy/go-graphviz's with fewer
// dependencies.
package wasmcache

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Dir is the private temporary directory chosen at init, or "" if none
// could be made (go-graphviz then runs without a cache of its own choice).
// Shared is the temporary directory the process was given.
var Dir, Shared string

func init() {
	Shared = os.TempDir()
	dir, err := privateDir(Shared)
	if err != nil {
		if dir, err = os.MkdirTemp("", "bootgraph-"); err != nil {
			return
		}
	}
	Dir = dir
	_ = os.Setenv("TMPDIR", dir)
}

// privateDir returns <base>/bootgraph-<uid>, created 0700 if absent, and
// only if it is a real directory this user owns that no one else can
// write.
func privateDir(base string) (string, error) {
	dir := filepath.Join(base, fmt.Sprintf("bootgraph-%d", os.Getuid()))
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return "", err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return "", fmt.Errorf("%s is not a directory", dir)
	case !ok || int(sys.Uid) != os.Getuid():
		return "", fmt.Errorf("%s is not owned by uid %d", dir, os.Getuid())
	case st.Mode().Perm()&0o022 != 0:
		return "", fmt.Errorf("%s is writable by others (%v)", dir, st.Mode().Perm())
	}
	return dir, nil
}
