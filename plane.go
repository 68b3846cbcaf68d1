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
	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/fxplan"
	"github.com/bootgraph/bootgraph/graph"
)

// DefaultTimeout bounds a start and a stop when Options say nothing.
const DefaultTimeout = 15 * time.Second

// Options are the engine's own settings. The zero value is usable.
type Options struct {
	// Logger is the plane's logger, given to every part as *zap.Logger.
	// Default: NewLogger(LogConfig{}) (info level, console format).
	Logger *zap.Logger
	// StartTimeout bounds every OnStart hook together; on a timeout, what
	// started is stopped. Default 15s.
	StartTimeout time.Duration
	// StopTimeout bounds a graceful stop, draining included. Default 15s.
	StopTimeout time.Duration
	// ConfigHints makes composition errors name config-file fields and
	// flags ("ca.enabled: true, or --enable ca") instead of Go calls
	// ("ca.Module(ca.Options{})"). The config layer sets it.
	ConfigHints bool
}

func (o Options) withDefaults() (Options, error) {
	if o.StartTimeout < 0 || o.StopTimeout < 0 {
		return o, fmt.Errorf("bootgraph: StartTimeout %v and StopTimeout %v must not be negative", o.StartTimeout, o.StopTimeout)
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultTimeout
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = DefaultTimeout
	}
	if o.Logger == nil {
		log, err := NewLogger(LogConfig{})
		if err != nil {
			return o, err
		}
		o.Logger = log
	}
	return o, nil
}

// Plane is a built control plane, ready to start.
type Plane struct {
	opts  Options
	app   *fx.App
	log   *zap.Logger
	hooks *hookTracker
	build *buildRecorder
	plan  *graph.Graph // the composition's plan, before any run

	mu    sync.Mutex
	times runTimes
}

// New builds the plane that parts (fx options: modules, services, handlers,
// decorators, fx.Populate targets) compose. The engine adds what every
// plane has: a *zap.Logger, a Prometheus registry (prometheus.Registerer
// and prometheus.Gatherer), hook tracking, and the plane itself as a
// graph.Source.
//
// The composition is planned before anything runs: a missing part, a
// dependency cycle or an invalid option is a *CompositionError naming what
// is wrong and who needs it, and no constructor has run (no key generated,
// nothing written). fx's own console logger never prints.
func New(opts Options, parts ...fx.Option) (*Plane, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Plane{opts: opts, log: opts.Logger, build: newBuildRecorder()}
	p.hooks = newHookTracker(p.log.Named("lifecycle"), p.build.current, opts.StopTimeout)
	all := p.options(parts)
	analysis := fxplan.Analyze(all...)
	if !analysis.OK() {
		return nil, explain(analysis, opts.ConfigHints)
	}
	if len(analysis.Unknown) > 0 {
		// The plan may be incomplete: let fx check what it could not read
		// before anything runs.
		if err := fx.ValidateApp(append(all, fx.NopLogger)...); err != nil { // silent: all has fx.Logger(silent{})
			return nil, fxError(err)
		}
	}
	p.plan = analysis.Graph
	begin := time.Now()
	p.app = fx.New(all...)
	p.times.build = time.Since(begin)
	if err := p.app.Err(); err != nil {
		return nil, fxError(err)
	}
	return p, nil
}

// Plan draws the plane New would build from the same options and parts,
// without building it: no constructor runs, no key is generated, nothing is
// written or bound. A missing part or a cycle is part of the graph (as a
// problem and marked nodes), not an error.
func Plan(opts Options, parts ...fx.Option) (*graph.Graph, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Plane{opts: opts, log: zap.NewNop(), build: newBuildRecorder()}
	p.hooks = newHookTracker(p.log, p.build.current, opts.StopTimeout)
	return fxplan.Plan(p.options(parts)...).MarkInfra(), nil
}

// Check plans the plane New would build and returns the *CompositionError
// New would return for a missing part, a cycle or an invalid option, or
// nil; nothing runs.
func Check(opts Options, parts ...fx.Option) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	p := &Plane{opts: opts, log: zap.NewNop(), build: newBuildRecorder()}
	p.hooks = newHookTracker(p.log, p.build.current, opts.StopTimeout)
	if a := fxplan.Analyze(p.options(parts)...); !a.OK() {
		return explain(a, opts.ConfigHints)
	}
	return nil
}

// silent is the printer of fx's fallback console logger.
type silent struct{}

func (silent) Printf(string, ...any) {}

// fxError wraps an error fx reported; the summary is dig's root cause,
// which the parts word for people (field, file, address).
func fxError(err error) error {
	return &CompositionError{Summary: dig.RootCause(err).Error(), Err: err}
}

// options are the parts with what every plane has: the logger, a metrics
// registry, the hook tracker's view of the lifecycle, the plane as a graph
// source, and fx's event logger.
func (p *Plane) options(parts []fx.Option) []fx.Option {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := []fx.Option{
		fx.Supply(p.log),
		fx.Supply(fx.Annotate(reg, fx.As(new(prometheus.Registerer)), fx.As(new(prometheus.Gatherer)))),
		fx.Decorate(p.hooks.decorate),
		fx.Supply(fx.Annotate(p, fx.As(new(graph.Source)))),
	}
	opts = append(opts, parts...)
	return append(opts,
		fx.Logger(silent{}), // what fx says when a custom logger fails: nothing
		fx.WithLogger(func() fxevent.Logger { return eventLogger{log: p.log.Named("fx"), rec: p.build} }),
	)
}

// Logger returns the plane's logger.
func (p *Plane) Logger() *zap.Logger { return p.log }

// Constructors returns every function fx ran while the plane was built:
// constructors, decorators, supplied values and invokes, in the order they
// finished.
func (p *Plane) Constructors() []ConstructorRecord { return p.build.records() }

// Hooks returns what is known of every lifecycle hook, in start order.
func (p *Plane) Hooks() []HookRecord { return p.hooks.records() }

// Start runs every OnStart hook in order within StartTimeout. If a hook fails
// or the timeout passes, every hook already started is stopped (within
// StopTimeout) before Start returns the error, which names the failing part.
func (p *Plane) Start(ctx context.Context) error {
	startCtx, cancel := context.WithTimeout(ctx, p.opts.StartTimeout)
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
		err = fmt.Errorf("start timed out after %v while running OnStart of %s: %w", p.opts.StartTimeout, p.hooks.runningHook(), err)
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), p.opts.StopTimeout)
	defer stopCancel()
	if rbErr := p.hooks.rollback(stopCtx); rbErr != nil {
		err = errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
	}
	return err
}

// Stop runs the OnStop hooks of every started hook in reverse order within
// StopTimeout, draining listeners.
func (p *Plane) Stop(ctx context.Context) error {
	stopCtx, cancel := context.WithTimeout(ctx, p.opts.StopTimeout)
	defer cancel()
	begin := time.Now()
	err := p.app.Stop(stopCtx)
	p.mu.Lock()
	p.times.stop = time.Since(begin)
	p.mu.Unlock()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("stop timed out after %v while running OnStop of %s: %w", p.opts.StopTimeout, p.hooks.runningHook(), err)
	}
	if err != nil {
		return err
	}
	p.log.Info("plane stopped", zap.Duration("took", time.Since(begin)))
	return nil
}

// Run starts the plane, waits for ctx to end, SIGINT or SIGTERM, or an
// fx.Shutdowner call, then stops it. The signals are caught from before
// the start: one that arrives while the plane starts ends the start (what
// started is stopped, and Run returns the start's error, naming the
// signal), and one that arrives the moment the plane is ready stops it as
// any other would, never killing the process.
func (p *Plane) Run(ctx context.Context) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	received := make(chan os.Signal, 1)
	go func() {
		select {
		case s := <-sigs:
			received <- s
			stop()
		case <-runCtx.Done():
		}
	}()
	if err := p.Start(runCtx); err != nil {
		select {
		case s := <-received:
			return fmt.Errorf("start interrupted by %v: %w", s, err)
		default:
			return err
		}
	}
	select {
	case <-ctx.Done():
		p.log.Info("stopping", zap.String("reason", "context done"))
	case s := <-received:
		p.log.Info("stopping", zap.String("signal", s.String()))
	case s := <-p.app.Wait():
		p.log.Info("stopping", zap.String("signal", s.Signal.String()))
	}
	return p.Stop(context.Background())
}
