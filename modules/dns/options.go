package dns

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/bootgraph/bootgraph/modules/plane"
)

// Defaults.
const (
	// DefaultAddr is the DNS-over-TLS port on loopback; 853 would need
	// privileges.
	DefaultAddr = "127.0.0.1:15053"
	// DefaultNamespace is the control plane's namespace when none is set.
	DefaultNamespace = "istio-system"
	// DefaultTTL is the TTL of every record that sets none.
	DefaultTTL = 30 * time.Second
	// DefaultIdleTimeout is Options.IdleTimeout's default.
	DefaultIdleTimeout = 30 * time.Second
	// maxTTL is the largest TTL a record may have (RFC 2181 section 8).
	maxTTL = math.MaxInt32 * time.Second
)

// DefaultSelfAddrs are the addresses the control plane's own names resolve
// to when none are set: loopback, as for a local plane.
var DefaultSelfAddrs = []string{"127.0.0.1", "::1"}

// Options configure the DNS-over-TLS listener; they map onto the "dns"
// section of the config file.
type Options struct {
	// Addr to listen on. Default "127.0.0.1:15053"; port 0 picks a free port.
	Addr string `json:"addr,omitempty"`

	// Zones this server is authoritative for. Default: the zone of the
	// control plane's own names, "<Namespace>.svc.". Names are
	// case-insensitive; a missing final dot is added.
	Zones []string `json:"zones,omitempty"`

	// Namespace of the control plane. Not a config-file field: the engine
	// sets it from the plane's namespace. Default "istio-system".
	Namespace string `json:"-"`

	// SelfNames are the control plane's own names, which resolve to
	// SelfAddrs. Not a config-file field: the engine sets it from the
	// serving certificate's names. IP addresses and names outside every
	// zone (such as "localhost") are not served. Default
	// "istiod.<Namespace>.svc".
	SelfNames []string `json:"-"`

	// SelfAddrs are the addresses SelfNames resolve to (A for IPv4, AAAA
	// for IPv6). Default ["127.0.0.1", "::1"].
	SelfAddrs []string `json:"selfAddrs,omitempty"`

	// TTL of every record that sets none, and of negative answers
	// (RFC 2308). Default 30s; whole seconds, at least 1s.
	TTL plane.Duration `json:"ttl,omitempty"`

	// IdleTimeout closes a connection that sends no query (or, first, no
	// TLS handshake) for this long, or that takes no answers for this long.
	// Default 30s.
	IdleTimeout plane.Duration `json:"idleTimeout,omitempty"`
}

// SetDefaults fills every empty field with its default.
func (o *Options) SetDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if len(o.Zones) == 0 {
		o.Zones = []string{o.Namespace + ".svc."}
	}
	if len(o.SelfNames) == 0 {
		o.SelfNames = []string{"istiod." + o.Namespace + ".svc"}
	}
	if len(o.SelfAddrs) == 0 {
		o.SelfAddrs = append([]string(nil), DefaultSelfAddrs...)
	}
	if o.TTL == 0 {
		o.TTL = plane.Duration(DefaultTTL)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = plane.Duration(DefaultIdleTimeout)
	}
}

// Validate reports every invalid field, naming it as in the config file.
func (o *Options) Validate() error {
	var errs []error
	if o.Addr == "" {
		errs = append(errs, errors.New("dns.addr: must not be empty"))
	}
	if len(o.Zones) == 0 {
		errs = append(errs, errors.New("dns.zones: must name at least one zone"))
	}
	seen := map[string]int{}
	for i, z := range o.Zones {
		if err := checkName(z); err != nil {
			errs = append(errs, fmt.Errorf("dns.zones[%d]: %w", i, err))
			continue
		}
		if j, dup := seen[canonical(z)]; dup {
			errs = append(errs, fmt.Errorf("dns.zones[%d]: %q repeats dns.zones[%d]", i, z, j))
			continue
		}
		seen[canonical(z)] = i
	}
	for i, n := range o.SelfNames {
		if _, err := netip.ParseAddr(n); err == nil {
			continue // an IP address among the certificate's names: not served
		}
		if err := checkName(n); err != nil {
			errs = append(errs, fmt.Errorf("dns.selfNames[%d]: %w", i, err))
		}
	}
	for i, a := range o.SelfAddrs {
		if _, err := parseAddr(a); err != nil {
			errs = append(errs, fmt.Errorf("dns.selfAddrs[%d]: %w", i, err))
		}
	}
	if err := checkTTL(time.Duration(o.TTL)); err != nil || o.TTL == 0 {
		if err == nil {
			err = errors.New("must be at least 1s")
		}
		errs = append(errs, fmt.Errorf("dns.ttl: %w", err))
	}
	if o.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("dns.idleTimeout: %v must be positive", o.IdleTimeout))
	}
	return errors.Join(errs...)
}

// canonical returns name in the form the server compares names in: absolute
// and lower-case.
func canonical(name string) string { return strings.ToLower(mdns.Fqdn(name)) }

// checkName reports whether name is a valid domain name.
func checkName(name string) error {
	if name == "" {
		return errors.New("must not be empty")
	}
	if _, ok := mdns.IsDomainName(name); !ok {
		return fmt.Errorf("%q is not a valid domain name", name)
	}
	return nil
}

// parseAddr parses an IP address without an IPv6 zone; an IPv4-mapped IPv6
// address is IPv4.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has an IPv6 zone, which DNS cannot carry", s)
	}
	return a.Unmap(), nil
}

// checkTTL reports a TTL that DNS cannot carry; 0 is allowed (the default).
func checkTTL(ttl time.Duration) error {
	switch {
	case ttl < 0:
		return fmt.Errorf("%v must not be negative", ttl)
	case ttl > maxTTL:
		return fmt.Errorf("%v is above the largest DNS TTL, %v", ttl, maxTTL)
	case ttl%time.Second != 0:
		return fmt.Errorf("%v is not a whole number of seconds", ttl)
	}
	return nil
}
