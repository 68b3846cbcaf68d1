package bootgraph

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
)

// HookRecord is what the engine knows of one lifecycle hook: who appended it,
// its position, and what happened when it ran.
type HookRecord struct {
	// Name is fx's name for the function that appended the hook, e.g.
	// "github.com/bootgraph/bootgraph/modules/grpc.provideServer()".
	Name string
	// Index is the hook's position in the start order.
	Index int
	// StopOrder is the hook's position among OnStop calls (0 first), or -1
	// while it has not stopped.
	StopOrder int
	// Started is true once OnStart returned nil; Stopped once OnStop ran.
	Started, Stopped bool
	// StartTime and StopTime are how long OnStart and OnStop took.
	StartTime, StopTime time.Duration
	// Err is the error of OnStart or OnStop, if any.
	Err error
}

// hookTracker wraps every hook appended to the fx.Lifecycle (through a
// root-level fx.Decorate) so the engine knows which hooks have started. fx
// runs no OnStop hooks when a start times out (fx#1035): rollback uses this
// record to stop them itself.
type hookTracker struct {
	log *zap.Logger
	// stopTimeout bounds a late finisher's own OnStop (see start).
	stopTimeout time.Duration
	// registrar names the function running while a hook is appended.
	registrar func() string

	mu        sync.Mutex
	hooks     []*trackedHook
	running   *trackedHook
	last      *trackedHook // the hook that started (or stopped) last
	stops     int          // OnStop calls so far, for StopOrder
	abandoned bool         // a start was given up; late finishers stop themselves
}

type trackedHook struct {
	rec    HookRecord
	onStop func(context.Context) error
}

func newHookTracker(log *zap.Logger, registrar func() string, stopTimeout time.Duration) *hookTracker {
	return &hookTracker{log: log, registrar: registrar, stopTimeout: stopTimeout}
}

// decorate is provided as fx.Decorate(t.decorate): every module then sees a
// Lifecycle whose hooks the tracker wraps.
func (t *hookTracker) decorate(lc fx.Lifecycle) fx.Lifecycle {
	return &trackedLifecycle{Lifecycle: lc, t: t}
}

type trackedLifecycle struct {
	fx.Lifecycle
	t *hookTracker
}

// Append wraps h and appends it to the real lifecycle.
func (l *trackedLifecycle) Append(h fx.Hook) {
	t := l.t
	t.mu.Lock()
	name := t.registrar()
	if name == "" {
		name = appenderName() // appended outside the build, e.g. by another hook
	}
	th := &trackedHook{rec: HookRecord{Name: name, Index: len(t.hooks), StopOrder: -1}, onStop: h.OnStop}
	t.hooks = append(t.hooks, th)
	t.mu.Unlock()
	l.Lifecycle.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return t.start(ctx, th, h.OnStart) },
		OnStop:  func(ctx context.Context) error { return t.stop(ctx, th) },
	})
}

func (t *hookTracker) start(ctx context.Context, th *trackedHook, onStart func(context.Context) error) error {
	t.mu.Lock()
	t.running, t.last = th, th
	t.mu.Unlock()
	begin := time.Now()
	var err error
	if onStart != nil {
		err = onStart(ctx)
	}
	took := time.Since(begin)

	t.mu.Lock()
	t.running = nil
	th.rec.StartTime, th.rec.Err = took, err
	th.rec.Started = err == nil
	abandoned := t.abandoned
	t.mu.Unlock()

	if err != nil {
		t.log.Error("OnStart failed", zap.String("hook", th.rec.Name), zap.Duration("took", took), zap.Error(err))
		return err
	}
	t.log.Info("OnStart", zap.String("hook", th.rec.Name), zap.Duration("took", took))
	if abandoned {
		// The start timed out while this hook ran; the plane is being
		// rolled back, so undo this hook too.
		stopCtx, cancel := context.WithTimeout(context.Background(), t.stopTimeout)
		defer cancel()
		_ = t.stop(stopCtx, th)
	}
	return nil
}

// stop runs th's OnStop once, and only if its OnStart succeeded.
func (t *hookTracker) stop(ctx context.Context, th *trackedHook) error {
	t.mu.Lock()
	if !th.rec.Started || th.rec.Stopped {
		t.mu.Unlock()
		return nil
	}
	th.rec.Stopped = true
	th.rec.StopOrder = t.stops
	t.stops++
	t.running, t.last = th, th
	t.mu.Unlock()

	begin := time.Now()
	var err error
	if th.onStop != nil {
		err = th.onStop(ctx)
	}
	took := time.Since(begin)

	t.mu.Lock()
	t.running = nil
	th.rec.StopTime = took
	if err != nil {
		th.rec.Err = err
	}
	t.mu.Unlock()
	if err != nil {
		t.log.Error("OnStop failed", zap.String("hook", th.rec.Name), zap.Duration("took", took), zap.Error(err))
	} else {
		t.log.Info("OnStop", zap.String("hook", th.rec.Name), zap.Duration("took", took))
	}
	return err
}

// rollback stops, in reverse order, every hook that started and has not been
// stopped, and makes any hook still starting stop itself when it finishes.
func (t *hookTracker) rollback(ctx context.Context) error {
	t.mu.Lock()
	t.abandoned = true
	hooks := append([]*trackedHook(nil), t.hooks...)
	t.mu.Unlock()
	var errs []error
	for i := len(hooks) - 1; i >= 0; i-- {
		if err := t.stop(ctx, hooks[i]); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", hooks[i].rec.Name, err))
		}
	}
	return errors.Join(errs...)
}

// runningHook names the hook running now or, when none is (it returned
// with the deadline's error), the last one that ran.
func (t *hookTracker) runningHook() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.running != nil:
		return t.running.rec.Name
	case t.last != nil:
		return t.last.rec.Name
	}
	return "no hook (the deadline passed before the first)"
}

// records returns a copy of every hook's record, in start order.
func (t *hookTracker) records() []HookRecord {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]HookRecord, len(t.hooks))
	for i, th := range t.hooks {
		out[i] = th.rec
	}
	return out
}

// appenderName is the first function on the stack, above Append, that is not
// fx, dig, reflection or a generic helper that appends on someone's behalf.
func appenderName() string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if !skipFrame(f.Function) {
			return f.Function
		}
		if !more {
			return "unknown"
		}
	}
}

func skipFrame(fn string) bool {
	for _, p := range []string{"go.uber.org/fx", "go.uber.org/dig", "reflect.", "runtime.",
		"github.com/bootgraph/bootgraph/component."} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}
