package kube

import "go.uber.org/fx"

// tokenReviewOption is filled in by its own change.
func tokenReviewOption() fx.Option { return fx.Options() }
