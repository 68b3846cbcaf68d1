package bootgraph

import (
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/graph"
)

// PlanConfig draws the plane cfg (plus extra options) would build, without
// building it: no key is generated, no port bound. See Plan.
func PlanConfig(cfg Config, extra ...fx.Option) (*graph.Graph, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Plane{cfg: cfg, log: zap.NewNop(), build: newBuildRecorder()}
	p.hooks = newHookTracker(p.log, p.build.current, time.Duration(cfg.StopTimeout))
	opts := append(append(p.coreOptions(), Modules(cfg)...), extra...)
	return Plan(opts...)
}
