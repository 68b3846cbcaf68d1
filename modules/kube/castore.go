package kube

import "go.uber.org/fx"

// caStoreOption is filled in by its own change.
func caStoreOption() fx.Option { return fx.Options() }
