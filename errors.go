package bootgraph

import (
	"fmt"
	"path"
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
	"*webhook.Server":       `the webhook module (modules/webhook; config "webhook.enabled: true")`,
	"*dns.Server":           `the DNS-over-TLS module (modules/dns; config "dns.enabled: true")`,
	"kubernetes.Interface":  `the kube module (modules/kube; --kubeconfig, $KUBECONFIG or in a pod)`,
	"*monitoring.Server":    `the monitoring module (modules/monitoring; config "monitoring.enabled: true")`,
	"*zap.Logger":           "the engine (use bootgraph.New)",
	"prometheus.Registerer": "the engine (use bootgraph.New)",
	"prometheus.Gatherer":   "the engine (use bootgraph.New)",
}

// Patterns in dig's one-line error text.
var (
	missingTypeRE = regexp.MustCompile(`missing types?: ([^:]+)$`)
	neederRE      = regexp.MustCompile(`missing dependencies for function "([^"]+)"\.(\S+)`)
	buildingRE    = regexp.MustCompile(`failed to build ([^:]+):`)
)

// explainBuildError turns fx/dig composition errors into one that names the
// missing part, the module that provides it, and who needs it. Other errors
// are reduced to their root cause, which the modules word for users (field,
// file, address); fx's full account stays available with %+v and Unwrap.
func explainBuildError(err error) error {
	msg := err.Error()
	if m := missingTypeRE.FindStringSubmatch(msg); m != nil {
		return &CompositionError{Summary: explainMissing(msg, m[1]), Err: err}
	}
	if dig.IsCycleDetected(err) {
		return &CompositionError{Summary: "composition has a dependency cycle: " + dig.RootCause(err).Error(), Err: err}
	}
	return &CompositionError{Summary: dig.RootCause(err).Error(), Err: err}
}

func explainMissing(msg, missing string) string {
	var parts []string
	for _, t := range strings.Split(missing, ";") {
		t = strings.TrimSpace(strings.SplitN(t, " (", 2)[0])
		if p, ok := providers[t]; ok {
			parts = append(parts, fmt.Sprintf("%s, provided by %s", t, p))
		} else if t != "" {
			parts = append(parts, t+", which no module in the composition provides")
		}
	}
	summary := "composition is missing " + strings.Join(parts, " and ")
	if n := neederRE.FindStringSubmatch(msg); n != nil {
		summary += "; " + path.Base(n[1]) + "." + n[2] + " needs it"
	}
	if b := buildingRE.FindAllStringSubmatch(msg, -1); b != nil {
		chain := make([]string, 0, len(b))
		for i := len(b) - 1; i >= 0; i-- {
			chain = append(chain, b[i][1])
		}
		summary += " to build " + strings.Join(chain, ", needed by ")
	}
	return summary
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
