package dns

import (
	"net/netip"
	"time"
)

// GroupRecords is the value group through which modules contribute records.
const GroupRecords = "dns.records"

// Record is a name that the server answers for, contributed by a module
// through GroupRecords. The name must lie inside one of the server's zones;
// records with the same name are merged.
type Record struct {
	// Name, e.g. "istiod-remote.istio-system.svc"; case-insensitive, a
	// missing final dot is added.
	Name string
	// Addrs are answered as A (IPv4) and AAAA (IPv6) records.
	Addrs []netip.Addr
	// SRV are answered as SRV records; Name is then usually of the form
	// "_service._proto.name", e.g. "_grpc._tcp.istiod.istio-system.svc".
	SRV []SRV
	// TTL of the record's data; 0 means Options.TTL.
	TTL time.Duration
}

// SRV is one SRV record's data (RFC 2782).
type SRV struct {
	// Target is the host that offers the service, e.g.
	// "istiod.istio-system.svc". Its addresses go into the additional
	// section when this server knows them.
	Target string
	// Port of the service on Target.
	Port uint16
	// Priority (lower first) and Weight (among equal priorities) choose
	// between targets.
	Priority, Weight uint16
}
