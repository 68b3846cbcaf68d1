package bootgraph

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/graph"
)

// Plane is a built control plane, ready to start.
type Plane struct {
	cfg   Config
	app   *fx.App
	log   *zap.Logger
	hooks *hookTracker
	build *buildRecorder
	opts  []fx.Option // the composition, for Graph

	mu    sync.Mutex
	times runTimes
}

// New builds the plane cfg describes, plus extra options from a library user
// (services, handlers, decorators, fx.Populate targets). It applies cfg's
// defaults and validates it; see Compose for the checks on the composition.
func New(cfg Config, extra ...fx.Option) (*Plane, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return compose(cfg, append(Modules(cfg), extra...))
}

// Compose builds a plane from exactly the given modules and options, for
// library users who pick modules themselves; cfg supplies only the engine's
// settings (Log or Logger, StartTimeout, StopTimeout). Every plane gets a
// *zap.Logger and a Prometheus registry (prometheus.Registerer and
// prometheus.Gatherer).
//
// The composition is checked with a dry run before any constructor runs: a
// missing part is reported, naming the module that provides it, without
// generating keys or touching the disk.
func Compose(cfg Config, modules ...fx.Option) (*Plane, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return compose(cfg, modules)
}

func compose(cfg Config, modules []fx.Option) (*Plane, error) {
	log := cfg.Logger
	if log == nil {
		var err error
		if log, err = buildLogger(cfg.Log); err != nil {
			return nil, err
		}
	}
	p := &Plane{cfg: cfg, log: log, build: newBuildRecorder()}
	p.hooks = newHookTracker(log.Named("lifecycle"), p.build.current, time.Duration(cfg.StopTimeout))
	opts := append(p.coreOptions(), modules...)

	if err := fx.ValidateApp(append(opts, fx.NopLogger)...); err != nil {
		return nil, explainBuildError(err)
	}
	begin := time.Now()
	p.opts = append(opts, fx.WithLogger(func() fxevent.Logger { return eventLogger{log: log.Named("fx"), rec: p.build} }))
	p.app = fx.New(p.opts...)
	p.times.build = time.Since(begin)
	if err := p.app.Err(); err != nil {
		return nil, explainBuildError(err)
	}
	return p, nil
}

// coreOptions are what every plane has: the logger, a metrics registry, and
// the hook tracker's view of the lifecycle.
func (p *Plane) coreOptions() []fx.Option {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return []fx.Option{
		fx.Supply(p.log),
		fx.Supply(fx.Annotate(reg, fx.As(new(prometheus.Registerer)), fx.As(new(prometheus.Gatherer)))),
		fx.Decorate(p.hooks.decorate),
		// The plane itself, for modules that show its graph (graphpage).
		fx.Supply(fx.Annotate(p, fx.As(new(graph.Source)))),
	}
}

// Logger returns the plane's logger.
func (p *Plane) Logger() *zap.Logger { return p.log }

// Config returns the configuration the plane was built from, defaults applied.
func (p *Plane) Config() Config { return p.cfg }

// Constructors returns every function fx ran while the plane was built —
// constructors, decorators, supplied values and invokes — in the order they
// finished.
func (p *Plane) Constructors() []ConstructorRecord { return p.build.records() }

// Hooks returns what is known of every lifecycle hook, in start order.
func (p *Plane) Hooks() []HookRecord { return p.hooks.records() }

// Start runs every OnStart hook in order within StartTimeout. If a hook fails
// or the timeout passes, every hook already started is stopped (within
// StopTimeout) before Start returns the error, which names the failing part.
func (p *Plane) Start(ctx context.Context) error {
	timeout := time.Duration(p.cfg.StartTimeout)
	startCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	begin := time.Now()
	err := p.app.Start(startCtx)
	p.mu.Lock()
	p.times.start, p.times.err = time.Since(begin), err
	p.mu.Unlock()
	if err == nil {
		p.log.Info("plane started", zap.Duration("took", time.Since(begin)), zap.Int("hooks", len(p.hooks.records())))
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) && startCtx.Err() != nil {
		err = fmt.Errorf("start timed out after %v while running OnStart of %s: %w", timeout, p.hooks.runningHook(), err)
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), time.Duration(p.cfg.StopTimeout))
	defer stopCancel()
	if rbErr := p.hooks.rollback(stopCtx); rbErr != nil {
		err = errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
	}
	return err
}

// Stop runs the OnStop hooks of every started hook in reverse order within
// StopTimeout, draining listeners.
func (p *Plane) Stop(ctx context.Context) error {
	stopCtx, cancel := context.WithTimeout(ctx, time.Duration(p.cfg.StopTimeout))
	defer cancel()
	begin := time.Now()
	err := p.app.Stop(stopCtx)
	p.mu.Lock()
	p.times.stop = time.Since(begin)
	p.mu.Unlock()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("stop timed out after %v while running OnStop of %s: %w", p.cfg.StopTimeout, p.hooks.runningHook(), err)
	}
	if err != nil {
		return err
	}
	p.log.Info("plane stopped", zap.Duration("took", time.Since(begin)))
	return nil
}

// Run starts the plane, waits for ctx to end, SIGINT or SIGTERM, or an
// fx.Shutdowner call, then stops it.
func (p *Plane) Run(ctx context.Context) error {
	if err := p.Start(ctx); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case <-ctx.Done():
		p.log.Info("stopping", zap.String("reason", "context done"))
	case s := <-sigs:
		p.log.Info("stopping", zap.String("signal", s.String()))
	case s := <-p.app.Wait():
		p.log.Info("stopping", zap.String("signal", s.Signal.String()))
	}
	return p.Stop(context.Background())
}
