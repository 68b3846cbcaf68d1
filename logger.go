package bootgraph

import (
	"fmt"
	"strings"

	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LogConfig chooses the plane's default logger.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `json:"level,omitempty" doc:"debug | info | warn | error"`
	// Format is console (default) or json.
	Format string `json:"format,omitempty" doc:"console | json"`
}

// NewLogger makes a logger as `bootgraph serve` uses: ISO 8601 times,
// durations as strings, no sampling, to standard error.
func NewLogger(c LogConfig) (*zap.Logger, error) {
	if c.Level == "" {
		c.Level = "info"
	}
	level, err := zap.ParseAtomicLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %q is not one of debug, info, warn, error", c.Level)
	}
	zc := zap.NewProductionConfig()
	zc.Level = level
	zc.Sampling = nil
	zc.DisableCaller = true
	zc.DisableStacktrace = true // errors say where they come from
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.EncoderConfig.EncodeDuration = zapcore.StringDurationEncoder
	switch c.Format {
	case "", "console":
		zc.Encoding = "console"
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	case "json":
	default:
		return nil, fmt.Errorf("log.format: %q is not one of console, json", c.Format)
	}
	return zc.Build()
}

// eventLogger logs fx's own events: each constructor's run and its duration,
// invokes, and failures. Hook executions are logged by the hookTracker, which
// knows the module function that appended each hook (fx only sees the
// tracker's wrapper).
type eventLogger struct {
	log *zap.Logger
	rec *buildRecorder
}

func (l eventLogger) LogEvent(event fxevent.Event) {
	l.rec.observe(event)
	switch e := event.(type) {
	case *fxevent.Provided:
		if e.Err != nil {
			l.log.Error("provide failed", zap.String("constructor", e.ConstructorName), moduleField(e.ModuleName), zap.Error(e.Err))
		}
	case *fxevent.Supplied:
		if e.Err != nil {
			l.log.Error("supply failed", zap.String("type", e.TypeName), moduleField(e.ModuleName), zap.Error(e.Err))
		}
	case *fxevent.Decorated:
		if e.Err != nil {
			l.log.Error("decorate failed", zap.String("decorator", e.DecoratorName), moduleField(e.ModuleName), zap.Error(e.Err))
		}
	case *fxevent.Run:
		fields := []zap.Field{zap.String("constructor", e.Name), zap.String("kind", e.Kind),
			moduleField(e.ModuleName), zap.Duration("took", e.Runtime)}
		if e.Err != nil {
			l.log.Error("constructor failed", append(fields, errField(e.Err))...)
			return
		}
		if strings.HasPrefix(e.Name, "stub(") || strings.HasPrefix(e.Name, "go.uber.org/fx.") {
			return // fx.Supply values and fx's own providers: nothing of ours ran
		}
		l.log.Info("constructed", fields...)
	case *fxevent.Invoked:
		if e.Err != nil {
			l.log.Error("invoke failed", zap.String("function", e.FunctionName), moduleField(e.ModuleName), errField(e.Err))
		}
	case *fxevent.RollingBack:
		l.log.Error("start failed, rolling back", zap.Error(e.StartErr))
	case *fxevent.RolledBack:
		if e.Err != nil {
			l.log.Error("rollback failed", zap.Error(e.Err))
		}
	case *fxevent.LoggerInitialized:
		if e.Err != nil {
			l.log.Error("custom logger failed", zap.Error(e.Err))
		}
	}
}

// errField logs err's message only: fx's and dig's errors carry a
// multi-line account (errorVerbose) that repeats what the message says.
func errField(err error) zap.Field { return zap.String("error", err.Error()) }

func moduleField(name string) zap.Field {
	if name == "" {
		return zap.Skip()
	}
	return zap.String("module", name)
}
