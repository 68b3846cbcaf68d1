package xds

import (
	"errors"
	"regexp"
	"time"

	"github.com/bootgraph/bootgraph/component"
)

// Defaults.
const (
	// DefaultReloadInterval is how often the resources file is re-read: a
	// small file read and hashed once a second costs nothing, and an edit
	// reaches the clients within about a second (istiod's file-based config
	// debounces its file events for 100ms).
	DefaultReloadInterval = time.Second
	// DefaultTrustDomain is the callers' trust domain when the plane has no
	// CA and the options name none: the CA's own default.
	DefaultTrustDomain = "cluster.local"
)

// Options configure the xDS server ("xds" in the config file). The zero
// value is usable.
type Options struct {
	// ResourcesFile is a YAML or JSON file of static resources served to
	// every node (see the package doc for its format). It is read at start,
	// where an unreadable or invalid file is an error, and then every
	// ReloadInterval: a changed file is applied once two reads in a row
	// agree, a bad edit is logged and the last good version stays in use.
	// Empty: no file.
	ResourcesFile string `json:"resourcesFile,omitempty" doc:"YAML or JSON: clusters, endpoints, listeners, routes served to every node; re-read when it changes"`
	// ReloadInterval is how often ResourcesFile is re-read. Default 1s.
	ReloadInterval component.Duration `json:"reloadInterval,omitempty" doc:"how often resourcesFile is re-read"`
	// TrustDomain the callers' SPIFFE identities must belong to. Default:
	// the CA's when the plane has one (a different value is then an
	// error), else "cluster.local".
	TrustDomain string `json:"trustDomain,omitempty" doc:"callers' SPIFFE trust domain (default: the CA's, else cluster.local)"`
}

// trustDomainRE is a SPIFFE trust domain name, as the CA checks it.
var trustDomainRE = regexp.MustCompile(`^[a-z0-9._-]+$`)

// SetDefaults fills every empty field that has a fixed default; the trust
// domain depends on whether the plane has a CA and is left to the module
// (and NewServer).
func (o *Options) SetDefaults() {
	if o.ReloadInterval == 0 {
		o.ReloadInterval = component.Duration(DefaultReloadInterval)
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	var errs []error
	if o.ReloadInterval <= 0 {
		errs = append(errs, component.FieldErrorf("reloadInterval", "%v must be positive", o.ReloadInterval))
	}
	if o.TrustDomain != "" && !trustDomainRE.MatchString(o.TrustDomain) {
		errs = append(errs, component.FieldErrorf("trustDomain", "%q is not a SPIFFE trust domain (lowercase letters, digits, \".\", \"-\", \"_\")", o.TrustDomain))
	}
	return errors.Join(errs...)
}
