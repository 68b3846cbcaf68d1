package component

import (
	"net"
	"path/filepath"

	"go.uber.org/fx"
)

// Defaults of Env.
const (
	DefaultNamespace = "istio-system"
	DefaultDataDir   = ".bootgraph"
)

// Env is where one plane runs, as every part may need to know it. The
// config layer supplies it from the file's top-level settings; a program
// may supply its own with SupplyEnv(component.Env{...}). When it is absent,
// or a field is empty, parts use the defaults (WithDefaults).
type Env struct {
	// Namespace of the control plane: its serving certificate names
	// istiod.<Namespace>.svc; in Kubernetes its Secrets and leases live
	// there. Default "istio-system".
	Namespace string
	// DataDir holds local state (the self-signed CA, the local token file).
	// Default ".bootgraph".
	DataDir string
}

// WithDefaults returns e with every empty field set to its default.
func (e Env) WithDefaults() Env {
	if e.Namespace == "" {
		e.Namespace = DefaultNamespace
	}
	if e.DataDir == "" {
		e.DataDir = DefaultDataDir
	}
	return e
}

// Path returns name inside DataDir.
func (e Env) Path(name string) string { return filepath.Join(e.WithDefaults().DataDir, name) }

// EnvIn takes the plane's Env, or the defaults when none is supplied.
// Embed it in a constructor's parameter struct and call Get.
type EnvIn struct {
	fx.In
	Env *Env `optional:"true"`
}

// Get returns the supplied Env with its defaults, or the defaults.
func (in EnvIn) Get() Env {
	if in.Env == nil {
		return Env{}.WithDefaults()
	}
	return in.Env.WithDefaults()
}

// SupplyEnv supplies e to the graph (as *Env, which EnvIn takes).
func SupplyEnv(e Env) fx.Option { return fx.Supply(&e) }

// Cluster is provided by the part that connects the plane to a Kubernetes
// cluster (the kube part). Its absence means the plane runs locally: parts
// then keep their state in DataDir and name loopback addresses.
type Cluster struct {
	// ID is the cluster's name, as in a CA request's "clusterid" metadata.
	ID string
	// Namespace is the plane's namespace in the cluster.
	Namespace string
}

// ClusterIn takes the Cluster, nil in local mode.
type ClusterIn struct {
	fx.In
	Cluster *Cluster `optional:"true"`
}

// IsLoopback reports whether addr ("host:port") binds a loopback address.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidateAddr checks a listen address option: "host:port", host may be
// empty (every interface), port 0 picks a free port.
func ValidateAddr(path, addr string) error {
	if addr == "" {
		return FieldErrorf(path, "must not be empty")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return FieldErrorf(path, "%q is not host:port: %w", addr, err)
	}
	return nil
}
