package bootgraph

import (
	"fmt"
	"regexp"
	"strings"

	"go.uber.org/dig"
)

// providers names, for each type the built-in modules provide, the module and
// the config that includes it, so a missing type becomes a missing part.
var providers = map[string]string{
	"*ca.CA":                `the ca module (modules/ca; config "ca.enabled: true")`,
	"*ca.Metrics":           `the ca module (modules/ca; config "ca.enabled: true")`,
	"*dnscert.Bundle":       `the serving-cert module (modules/dnscert; config "servingCert")`,
	"*grpc.Server":          `the secure gRPC module (modules/grpc; config "grpc.enabled: true")`,
	"*monitoring.Server":    `the monitoring module (modules/monitoring; config "monitoring.enabled: true")`,
	"*zap.Logger":           "the engine (use bootgraph.New)",
	"prometheus.Registerer": "the engine (use bootgraph.New)",
	"prometheus.Gatherer":   "the engine (use bootgraph.New)",
}

// missingTypeRE finds dig's "missing type: T" and "missing types: T1; T2".
var missingTypeRE = regexp.MustCompile(`missing types?: ([^\n]+)`)

// neededByRE finds the function dig could not build arguments for.
var neededByRE = regexp.MustCompile(`could not build arguments for function "([^"]+)"`)

// explainBuildError turns fx/dig composition errors into one that names the
// missing part and who needs it. Other errors are reduced to their root
// cause, which the modules word for users (field, file, address), and the
// full fx error stays available through errors.Unwrap.
func explainBuildError(err error) error {
	msg := err.Error()
	if m := missingTypeRE.FindStringSubmatch(msg); m != nil {
		var parts []string
		for _, t := range strings.Split(m[1], ";") {
			t = strings.TrimSpace(strings.SplitN(t, " (", 2)[0])
			if t == "" {
				continue
			}
			if p, ok := providers[t]; ok {
				parts = append(parts, fmt.Sprintf("%s, provided by %s", t, p))
			} else {
				parts = append(parts, t+", which no module in the composition provides")
			}
		}
		neededBy := "the plane"
		if n := neededByRE.FindAllStringSubmatch(msg, -1); n != nil {
			neededBy = n[len(n)-1][1]
		}
		return &CompositionError{
			Summary: fmt.Sprintf("composition is missing %s; needed by %s", strings.Join(parts, " and "), neededBy),
			Err:     err,
		}
	}
	if dig.IsCycleDetected(err) {
		return &CompositionError{Summary: "composition has a dependency cycle", Err: err}
	}
	return &CompositionError{Summary: dig.RootCause(err).Error(), Err: err}
}

// CompositionError is returned by New when the modules do not fit together
// or a constructor fails. Error gives the summary; %+v or Unwrap gives fx's
// full account.
type CompositionError struct {
	Summary string
	Err     error
}

func (e *CompositionError) Error() string { return e.Summary }
func (e *CompositionError) Unwrap() error { return e.Err }

// Format prints fx's full error with %+v.
func (e *CompositionError) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('+') {
		fmt.Fprintf(s, "%s\n\n%+v", e.Summary, e.Err)
		return
	}
	fmt.Fprint(s, e.Summary)
}
