package ca

import (
	"context"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// watchDir calls changed on every fsnotify event about dir or a name in
// it, until ctx is done. It also watches dir's parent, so that a dir
// created (or replaced) after the start is watched from then on. Events
// can be missed (a parent that does not exist either, a full queue): the
// CA's periodic check is the backstop.
func watchDir(ctx context.Context, dir string, log *zap.Logger, changed func()) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn("cannot watch for changes; relying on the periodic check", zap.String("dir", dir), zap.Error(err))
		return
	}
	defer func() { _ = w.Close() }()
	dir = filepath.Clean(dir)
	_ = w.Add(filepath.Dir(dir)) // may not exist: the periodic check covers it
	watching := w.Add(dir) == nil
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Name != dir && filepath.Dir(ev.Name) != dir {
				continue // a sibling of dir
			}
			if ev.Name == dir {
				switch {
				case ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0:
					watching = false
				case !watching:
					watching = w.Add(dir) == nil
				}
			}
			changed()
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			log.Debug("watching for changes", zap.String("dir", dir), zap.Error(err))
			changed() // an overflow: look
		}
	}
}
