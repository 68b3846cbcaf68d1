package pemutil

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// LockDir takes an exclusive advisory lock (flock) on the directory dir
// itself, so that writers in several processes (the plane and `bootgraph ca
// rotate`) take turns: read, decide, write. No lock file is created; the
// lock ends when unlock is called or the process dies. It blocks until the
// lock is free.
func LockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
