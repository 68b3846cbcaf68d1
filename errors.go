package bootgraph

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/fxplan"
)

// CompositionError is returned by New when the parts do not fit together
// (a missing part, a dependency cycle), an option is invalid, or a
// constructor fails. Error gives the summary, worded for the reader
// Options.ConfigHints chose; Missing and Cycles say the same as data; %+v
// or Unwrap gives fx's or the part's own error when there is one.
type CompositionError struct {
	Summary string
	// Missing and Cycles are the planner's findings, when those are the
	// cause.
	Missing []fxplan.Missing
	Cycles  []fxplan.Cycle
	// Err is the underlying error: fx's, or an option error a part
	// reported (component.OptionsError).
	Err error
}

func (e *CompositionError) Error() string { return e.Summary }
func (e *CompositionError) Unwrap() error { return e.Err }

// Format prints the underlying error too with %+v.
func (e *CompositionError) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('+') && e.Err != nil {
		fmt.Fprintf(s, "%s\n\n%+v", e.Summary, e.Err)
		return
	}
	fmt.Fprint(s, e.Summary)
}

// explain turns the planner's findings into a CompositionError.
func explain(a *fxplan.Analysis, configHints bool) error {
	if len(a.Errors) > 0 {
		err := errors.Join(a.Errors...)
		var msgs []string
		for _, e := range a.Errors {
			msgs = append(msgs, e.Error())
		}
		return &CompositionError{Summary: "invalid composition: " + strings.Join(msgs, "; "), Err: err}
	}
	var lines []string
	seen := map[string]bool{}
	for _, m := range a.Missing {
		if !seen[m.Key] {
			seen[m.Key] = true
			lines = append(lines, explainMissing(m, configHints))
		}
	}
	for _, c := range a.Cycles {
		lines = append(lines, "composition has a dependency cycle: "+c.String())
	}
	return &CompositionError{Summary: strings.Join(lines, "\n"), Missing: a.Missing, Cycles: a.Cycles}
}

// explainMissing says what is missing, which part provides it, who needs
// it, and any alternative the needing part offers.
func explainMissing(m fxplan.Missing, configHints bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "composition is missing %s, %s", m.Key, providedBy(m.Type, configHints))
	if len(m.Chain) > 0 {
		first := m.Chain[0]
		fmt.Fprintf(&b, "; %s needs it", first.Func)
		if first.Builds != "" {
			fmt.Fprintf(&b, " to build %s", first.Builds)
		}
		for _, s := range m.Chain[1:] {
			if s.Builds != "" {
				fmt.Fprintf(&b, ", which %s needs to build %s", s.Func, s.Builds)
			}
		}
		if h := alternative(m.Type, first.Module, configHints); h != "" {
			fmt.Fprintf(&b, ". %s", h)
		}
	}
	return b.String()
}

func providedBy(t reflect.Type, configHints bool) string {
	var part component.Part
	if t != nil {
		part = component.ProviderOf(t)
	}
	switch {
	case part == nil && configHints:
		return "which no part provides"
	case part == nil:
		return "which nothing in the composition provides (fx.Provide or fx.Supply it)"
	case configHints:
		return fmt.Sprintf("provided by the %q part (%s.enabled: true, or --enable %s)", part.Name(), part.Name(), part.Name())
	}
	call, pkg := part.GoModule()
	return fmt.Sprintf("provided by the %q part: add %s (%s)", part.Name(), call, pkg)
}

// alternative is the hint the part that needs t offers, if any; module is
// the needing function's module, whose first name is its part's.
func alternative(t reflect.Type, module string, configHints bool) string {
	name, _, _ := strings.Cut(module, "/")
	part := component.Lookup(name)
	if part == nil || t == nil {
		return ""
	}
	for _, h := range part.Hints() {
		if h.Type == t {
			if configHints {
				return h.Config
			}
			return h.Go
		}
	}
	return ""
}
