package bootgraph

import (
	"strings"
	"sync"
	"time"

	"go.uber.org/fx/fxevent"
)

// ConstructorRecord is one constructor or decorator that ran while the plane
// was built, in the order they ran.
type ConstructorRecord struct {
	// Name is the function, e.g. "github.com/bootgraph/bootgraph/modules/ca.provideCA()".
	Name string
	// Module is the fx.Module it belongs to, "" at the top level.
	Module string
	// Kind is "provide" or "decorate".
	Kind string
	// Runtime is the function's own run time, excluding its dependencies.
	Runtime time.Duration
	// Err is the constructor's error, if it failed.
	Err error
}

// constructorRecorder keeps fx's Run events. fx emits them synchronously
// while it builds the graph, in the order the constructors ran.
type constructorRecorder struct {
	mu   sync.Mutex
	runs []ConstructorRecord
}

func (r *constructorRecorder) observe(event fxevent.Event) {
	e, ok := event.(*fxevent.Run)
	if !ok || strings.HasPrefix(e.Name, "go.uber.org/fx.") {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, ConstructorRecord{Name: e.Name, Module: e.ModuleName, Kind: e.Kind, Runtime: e.Runtime, Err: e.Err})
}

func (r *constructorRecorder) records() []ConstructorRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ConstructorRecord(nil), r.runs...)
}
