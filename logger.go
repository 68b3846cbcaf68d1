package bootgraph

import (
	"fmt"
	"strings"

	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// buildLogger makes the plane's logger from the "log" section.
func buildLogger(c LogConfig) (*zap.Logger, error) {
	level, err := zap.ParseAtomicLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = level
	zc.Sampling = nil
	zc.DisableCaller = true
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.EncoderConfig.EncodeDuration = zapcore.StringDurationEncoder
	if c.Format == "console" {
		zc.Encoding = "console"
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
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
			l.log.Error("constructor failed", append(fields, zap.Error(e.Err))...)
			return
		}
		if strings.HasPrefix(e.Name, "stub(") || strings.HasPrefix(e.Name, "go.uber.org/fx.") {
			return // fx.Supply values and fx's own providers: nothing of ours ran
		}
		l.log.Info("constructed", fields...)
	case *fxevent.Invoked:
		if e.Err != nil {
			l.log.Error("invoke failed", zap.String("function", e.FunctionName), moduleField(e.ModuleName), zap.Error(e.Err))
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

func moduleField(name string) zap.Field {
	if name == "" {
		return zap.Skip()
	}
	return zap.String("module", name)
}
