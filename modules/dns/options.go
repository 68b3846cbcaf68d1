package dns

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/bootgraph/bootgraph/component"
)

// Defaults.
const (
	// DefaultAddr is the DNS-over-TLS port on loopback; 853 would need
	// privileges.
	DefaultAddr = "127.0.0.1:15053"
	// DefaultZone is the zone NewServer serves when none is set: that of
	// the plane's own names in the default namespace. The module uses
	// "<namespace>.svc." of the plane's component.Env.
	DefaultZone = component.DefaultNamespace + ".svc."
	// DefaultTTL is the TTL of every record that sets none.
	DefaultTTL = 30 * time.Second
	// DefaultIdleTimeout is Options.IdleTimeout's default.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxConnections caps the open connections: a resolver keeps
	// one or a few connections open and pipelines (RFC 7766); a thousand
	// leaves room for many, while 2,000 clients that connect and send
	// nothing no longer take the process's file descriptors from the other
	// listeners.
	DefaultMaxConnections = 1024
	// DefaultDrainTimeout is the other listeners': on stop, a connection
	// gets this long to finish the query in hand; below the plane's stop
	// timeout (15s), so that a client that never reads its answers cannot
	// make the stop fail.
	DefaultDrainTimeout = 5 * time.Second
	// maxTTL is the largest TTL a record may have (RFC 2181 section 8).
	maxTTL = math.MaxInt32 * time.Second
)

// DefaultSelfAddrs are the addresses the control plane's own names resolve
// to when none are set: loopback, as for a local plane.
var DefaultSelfAddrs = []string{"127.0.0.1", "::1"}

// Options configure the DNS-over-TLS listener ("dns" in the config file).
// The plane's own names, which resolve to SelfAddrs, are the DNS names of
// its serving certificate.
type Options struct {
	// Addr to listen on. Default "127.0.0.1:15053"; port 0 picks a free port.
	Addr string `json:"addr,omitempty" doc:"listen address"`

	// Zones this server is authoritative for. Default: the zone of the
	// control plane's own names, "<namespace>.svc.". Names are
	// case-insensitive; a missing final dot is added.
	Zones []string `json:"zones,omitempty" doc:"authoritative zones (default: <namespace>.svc.)"`

	// SelfAddrs are the addresses the plane's own names resolve to (A for
	// IPv4, AAAA for IPv6). Default ["127.0.0.1", "::1"].
	SelfAddrs []string `json:"selfAddrs,omitempty" doc:"what the plane's own names (its serving certificate's) resolve to"`

	// TTL of every record that sets none, and of negative answers
	// (RFC 2308). Default 30s; whole seconds, at least 1s.
	TTL component.Duration `json:"ttl,omitempty" doc:"TTL of records that set none, and of negative answers"`

	// IdleTimeout closes a connection that sends no query (or, first, no
	// TLS handshake) for this long, or that takes no answers for this long.
	// Default 30s.
	IdleTimeout component.Duration `json:"idleTimeout,omitempty" doc:"per connection; also bounds handshakes and stalled writes"`

	// MaxConnections caps the connections open at once (and at most an
	// eighth of the open-file limit); when full, the oldest connection
	// that has not had an answer is closed for a new one. Default 1024.
	MaxConnections int `json:"maxConnections,omitempty" doc:"connections open at once; when full the oldest unanswered one makes room"`

	// DrainTimeout is how long a stop lets each connection finish the
	// query in hand before it closes what remains. Default 5s.
	DrainTimeout component.Duration `json:"drainTimeout,omitempty" doc:"on stop, queries in hand get this long; then the rest is closed"`
}

// SetDefaults fills every empty field with its default; Zones depend on
// the plane's namespace and are left to the module (and NewServer).
func (o *Options) SetDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if len(o.SelfAddrs) == 0 {
		o.SelfAddrs = append([]string(nil), DefaultSelfAddrs...)
	}
	if o.TTL == 0 {
		o.TTL = component.Duration(DefaultTTL)
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = component.Duration(DefaultIdleTimeout)
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = component.Duration(DefaultDrainTimeout)
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	var errs []error
	errs = append(errs, component.ValidateAddr("addr", o.Addr))
	seen := map[string]int{}
	for i, z := range o.Zones {
		path := fmt.Sprintf("zones[%d]", i)
		if err := checkName(z); err != nil {
			errs = append(errs, component.FieldErrorf(path, "%w", err))
			continue
		}
		if j, dup := seen[canonical(z)]; dup {
			errs = append(errs, component.FieldErrorf(path, "%q repeats zones[%d]", z, j))
			continue
		}
		seen[canonical(z)] = i
	}
	for i, a := range o.SelfAddrs {
		if _, err := parseAddr(a); err != nil {
			errs = append(errs, component.FieldErrorf(fmt.Sprintf("selfAddrs[%d]", i), "%w", err))
		}
	}
	if err := checkTTL(time.Duration(o.TTL)); err != nil || o.TTL == 0 {
		if err == nil {
			err = errors.New("must be at least 1s")
		}
		errs = append(errs, component.FieldErrorf("ttl", "%w", err))
	}
	if o.IdleTimeout <= 0 {
		errs = append(errs, component.FieldErrorf("idleTimeout", "%v must be positive", o.IdleTimeout))
	}
	if o.MaxConnections <= 0 {
		errs = append(errs, component.FieldErrorf("maxConnections", "%d must be positive", o.MaxConnections))
	}
	if o.DrainTimeout <= 0 {
		errs = append(errs, component.FieldErrorf("drainTimeout", "%v must be positive", o.DrainTimeout))
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
