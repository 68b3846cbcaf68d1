package kube

import "go.uber.org/fx"

// rootDistributionOption is filled in by its own change.
func rootDistributionOption() fx.Option { return fx.Options() }
