package bootgraph

import (
	"strings"
	"sync"
	"time"

	"go.uber.org/fx/fxevent"
)

// ConstructorRecord is one function fx ran while the plane was built — a
// constructor, decorator, supplied value or invoke — in the order they
// finished.
type ConstructorRecord struct {
	// Name is fx's name for it, e.g.
	// "github.com/bootgraph/bootgraph/modules/ca.provideCA()".
	Name string
	// Module is the name of the fx.Module it belongs to, "" at the top.
	Module string
	// Kind is "provide", "supply", "decorate", "replace" or "invoke".
	Kind string
	// Runtime is the function's own run time, excluding its dependencies
	// (for invokes: including them).
	Runtime time.Duration
	// Err is the error it returned, if any.
	Err error
}

// buildRecorder follows fx's events while the graph is built: which
// functions ran, in what order, for how long, and which one is running now,
// so that a hook can be attributed to the function that appends it. fx emits
// these events synchronously on the goroutine that builds the graph.
type buildRecorder struct {
	mu      sync.Mutex
	runs    []ConstructorRecord
	running []string // names of the functions being run, innermost last
	invokes map[string]time.Time
}

func newBuildRecorder() *buildRecorder { return &buildRecorder{invokes: map[string]time.Time{}} }

func (r *buildRecorder) observe(event fxevent.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e := event.(type) {
	case *fxevent.BeforeRun:
		r.running = append(r.running, e.Name)
	case *fxevent.Run:
		r.pop()
		if !strings.HasPrefix(e.Name, "go.uber.org/fx.") {
			r.runs = append(r.runs, ConstructorRecord{Name: e.Name, Module: e.ModuleName, Kind: e.Kind, Runtime: e.Runtime, Err: e.Err})
		}
	case *fxevent.Invoking:
		r.running = append(r.running, e.FunctionName)
		r.invokes[e.FunctionName] = time.Now()
	case *fxevent.Invoked:
		r.pop()
		r.runs = append(r.runs, ConstructorRecord{Name: e.FunctionName, Module: e.ModuleName, Kind: "invoke",
			Runtime: time.Since(r.invokes[e.FunctionName]), Err: e.Err})
	}
}

func (r *buildRecorder) pop() {
	if len(r.running) > 0 {
		r.running = r.running[:len(r.running)-1]
	}
}

// current is the function running now, or "".
func (r *buildRecorder) current() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.running) == 0 {
		return ""
	}
	return r.running[len(r.running)-1]
}

func (r *buildRecorder) records() []ConstructorRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ConstructorRecord(nil), r.runs...)
}
