package xds

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
)

// FileSource keeps the resources file's layer of a Snapshots current: it
// re-reads the file every interval and applies it once it has changed and
// then read the same twice in a row, so that a file caught half-written is
// not applied. A file that is missing, unreadable or invalid after the
// start is logged, once per distinct state, and the last good version
// stays in use.
type FileSource struct {
	path     string
	interval time.Duration
	snaps    *Snapshots
	log      *zap.Logger

	current [sha256.Size]byte // the state last acted on: contents applied or rejected, or a read error
	pending [sha256.Size]byte // a new state read once, to be acted on if read again
}

// NewFileSource reads path into snaps now: an unreadable or invalid file
// is an error that names it.
func NewFileSource(path string, interval time.Duration, snaps *Snapshots, log *zap.Logger) (*FileSource, error) {
	if log == nil {
		log = zap.NewNop()
	}
	f := &FileSource{path: path, interval: interval, snaps: snaps, log: log}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("xds resources file: %w", err)
	}
	l, err := f.parse(data)
	if err != nil {
		return nil, err
	}
	f.current = sha256.Sum256(data)
	snaps.setFile(l)
	return f, nil
}

func (f *FileSource) parse(data []byte) (*layer, error) {
	r, err := ParseResources(data)
	if err != nil {
		return nil, fmt.Errorf("xds resources file %s: %w", f.path, err)
	}
	return newLayer(r)
}

// Run re-reads the file every interval until ctx is done.
func (f *FileSource) Run(ctx context.Context) {
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.Reload()
		}
	}
}

// Reload reads the file once and acts on a change it read the time before
// too: it applies the file, or logs why not. It reports whether the file's
// resources were applied.
func (f *FileSource) Reload() bool {
	data, readErr := os.ReadFile(f.path)
	state := sha256.Sum256(data)
	if readErr != nil {
		state = sha256.Sum256([]byte("read error: " + readErr.Error()))
	}
	switch state {
	case f.current:
		f.pending = [sha256.Size]byte{}
		return false
	case f.pending:
		f.current, f.pending = state, [sha256.Size]byte{}
	default:
		f.pending = state // changed: wait until it reads the same again
		return false
	}
	if readErr != nil {
		f.reject(fmt.Errorf("xds resources file: %w", readErr))
		return false
	}
	l, err := f.parse(data)
	if err != nil {
		f.reject(err)
		return false
	}
	f.snaps.setFile(l)
	n := 0
	for k := range numKinds {
		n += len(l.items[k])
	}
	f.log.Info("reloaded xDS resources file", zap.String("path", f.path), zap.Int("resources", n))
	return true
}

func (f *FileSource) reject(err error) {
	f.log.Warn("xDS resources file not applied; keeping the last good version", zap.Error(err))
}
