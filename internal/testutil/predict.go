package testutil

import (
	"context"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph"
	"github.com/bootgraph/bootgraph/graph"
)

// PredictionHolds starts and stops p and checks that its plan predicted
// what happened: the order of every function fx ran, and of the lifecycle
// hooks (each registrar here appends one hook).
func PredictionHolds(t *testing.T, p *bootgraph.Plane) {
	t.Helper()
	plan := p.Plan()
	require.Empty(t, plan.Problems)
	require.NoError(t, p.Start(context.Background()))
	require.NoError(t, p.Stop(context.Background()))

	var predicted, observed []string
	for _, n := range SortedByOrder(plan) {
		predicted = append(predicted, n.Key)
	}
	for _, r := range p.Constructors() {
		observed = append(observed, r.Name)
	}
	assert.Equal(t, predicted, observed, "functions: predicted vs run")

	var predictedHooks, observedHooks []string
	for _, h := range plan.Hooks {
		predictedHooks = append(predictedHooks, plan.Node(h.Node).Key)
	}
	for _, h := range p.Hooks() {
		observedHooks = append(observedHooks, h.Name)
	}
	assert.Equal(t, predictedHooks, observedHooks, "hooks: predicted vs started")
}

// SortedByOrder returns the nodes of g that run, in predicted order.
func SortedByOrder(g *graph.Graph) []graph.Node {
	var ran []graph.Node
	for _, n := range g.Nodes {
		if n.Order >= 0 {
			ran = append(ran, n)
		}
	}
	sort.Slice(ran, func(i, j int) bool { return ran[i].Order < ran[j].Order })
	return ran
}
