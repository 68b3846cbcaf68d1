package dns

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/bootgraph/bootgraph/component"
)

// SOA timers of every zone (RFC 1912 2.2); there are no secondaries, so they
// only inform.
const (
	soaRefresh = 3600
	soaRetry   = 600
	soaExpire  = 86400
)

// builder collects the records of every name; table packs the answers.
type builder struct {
	ttl    time.Duration
	serial uint32
	zones  map[string]string // wire apex -> presentation apex
	names  map[string]*rrsets
}

// rrsets are the records of one name.
type rrsets struct {
	owner  string // presentation form: absolute, lower-case
	zone   string // wire apex of the enclosing zone
	byType map[uint16][]mdns.RR
	types  []uint16 // in the order first added, for ANY
}

// buildTable computes every answer for opts, the plane's own names self
// and records. It returns the own names that are not served (IP addresses,
// names outside every zone).
func buildTable(opts Options, self []string, records []Record) (*table, []string, error) {
	b := &builder{
		ttl:    time.Duration(opts.TTL),
		serial: uint32(time.Now().Unix()),
		zones:  map[string]string{},
		names:  map[string]*rrsets{},
	}
	for _, z := range opts.Zones {
		w, err := wireName(z)
		if err != nil {
			return nil, nil, component.FieldErrorf("zones", "%w", err)
		}
		b.zones[w] = canonical(z)
	}
	skipped, err := b.addSelf(opts, self)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range records {
		if err := b.addRecord(r); err != nil {
			return nil, nil, fmt.Errorf("dns record %q: %w", r.Name, err)
		}
	}
	b.addApexes(self)
	b.addEmptyNonTerminals()
	t, err := b.table()
	return t, skipped, err
}

// addSelf adds the control plane's own names.
func (b *builder) addSelf(opts Options, self []string) (skipped []string, err error) {
	addrs := make([]netip.Addr, 0, len(opts.SelfAddrs))
	for i, s := range opts.SelfAddrs {
		a, err := parseAddr(s)
		if err != nil {
			return nil, component.FieldErrorf(fmt.Sprintf("selfAddrs[%d]", i), "%w", err)
		}
		addrs = append(addrs, a)
	}
	for _, name := range self {
		if _, err := netip.ParseAddr(name); err == nil {
			skipped = append(skipped, name)
			continue
		}
		w, err := wireName(name)
		if err != nil {
			skipped = append(skipped, name) // a certificate name DNS cannot carry
			continue
		}
		if _, ok := b.zoneOf(w); !ok {
			skipped = append(skipped, name)
			continue
		}
		for _, a := range addrs {
			b.add(w, canonical(name), addrRR(canonical(name), a, b.ttl))
		}
	}
	return skipped, nil
}

// addRecord adds a contributed record.
func (b *builder) addRecord(r Record) error {
	if err := checkName(r.Name); err != nil {
		return err
	}
	w, err := wireName(r.Name)
	if err != nil {
		return err
	}
	if _, ok := b.zoneOf(w); !ok {
		return fmt.Errorf("outside every zone of this server (%s)", strings.Join(slices.Sorted(maps.Values(b.zones)), ", "))
	}
	if len(r.Addrs) == 0 && len(r.SRV) == 0 {
		return errors.New("has neither addresses nor SRV records")
	}
	if err := checkTTL(r.TTL); err != nil {
		return fmt.Errorf("ttl: %w", err)
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = b.ttl
	}
	owner := canonical(r.Name)
	for i, a := range r.Addrs {
		if !a.IsValid() || a.Zone() != "" {
			return fmt.Errorf("addrs[%d]: %q is not an IP address without a zone", i, a)
		}
		b.add(w, owner, addrRR(owner, a.Unmap(), ttl))
	}
	for i, s := range r.SRV {
		if err := checkName(s.Target); err != nil {
			return fmt.Errorf("srv[%d].target: %w", i, err)
		}
		b.add(w, owner, &mdns.SRV{
			Hdr:      header(owner, mdns.TypeSRV, ttl),
			Priority: s.Priority, Weight: s.Weight, Port: s.Port,
			Target: canonical(s.Target),
		})
	}
	return nil
}

// addApexes gives every zone its SOA and, when one of the own names lies
// inside it, an NS record naming that name.
func (b *builder) addApexes(self []string) {
	for w, apex := range b.zones {
		mname := apex
		for _, name := range self {
			if sw, err := wireName(name); err == nil && b.names[sw] != nil && b.names[sw].zone == w {
				mname = canonical(name)
				break
			}
		}
		b.add(w, apex, &mdns.SOA{
			Hdr: header(apex, mdns.TypeSOA, b.ttl), Ns: mname, Mbox: childName("hostmaster", apex),
			Serial: b.serial, Refresh: soaRefresh, Retry: soaRetry, Expire: soaExpire,
			Minttl: uint32(b.ttl / time.Second),
		})
		if mname != apex {
			b.add(w, apex, &mdns.NS{Hdr: header(apex, mdns.TypeNS, b.ttl), Ns: mname})
		}
	}
}

// addEmptyNonTerminals makes the names between a record and its zone's apex
// exist, with no data, so that they answer NODATA, not NXDOMAIN (RFC 8020).
func (b *builder) addEmptyNonTerminals() {
	for w, set := range maps.Clone(b.names) {
		if w == set.zone {
			continue
		}
		for off := int(w[0]) + 1; off < len(w) && w[off:] != set.zone; off += int(w[off]) + 1 {
			if b.names[w[off:]] == nil {
				owner, _, _ := mdns.UnpackDomainName([]byte(w[off:]), 0)
				b.names[w[off:]] = &rrsets{owner: owner, zone: set.zone, byType: map[uint16][]mdns.RR{}}
			}
		}
	}
}

// add adds rr to the name w (wire form), once.
func (b *builder) add(w, owner string, rr mdns.RR) {
	set := b.names[w]
	if set == nil {
		zone, _ := b.zoneOf(w)
		set = &rrsets{owner: owner, zone: zone, byType: map[uint16][]mdns.RR{}}
		b.names[w] = set
	}
	t := rr.Header().Rrtype
	for _, have := range set.byType[t] {
		if mdns.IsDuplicate(have, rr) {
			return
		}
	}
	if set.byType[t] == nil {
		set.types = append(set.types, t)
	}
	set.byType[t] = append(set.byType[t], rr)
}

// zoneOf returns the wire apex of the longest zone that holds w.
func (b *builder) zoneOf(w string) (string, bool) {
	for off := 0; off < len(w); off += int(w[off]) + 1 {
		if _, ok := b.zones[w[off:]]; ok {
			return w[off:], true
		}
	}
	return "", false
}

func header(owner string, rrtype uint16, ttl time.Duration) mdns.RR_Header {
	return mdns.RR_Header{Name: owner, Rrtype: rrtype, Class: mdns.ClassINET, Ttl: uint32(ttl / time.Second)}
}

// addrRR is an A record for an IPv4 address, else an AAAA record.
func addrRR(owner string, a netip.Addr, ttl time.Duration) mdns.RR {
	if a.Is4() {
		return &mdns.A{Hdr: header(owner, mdns.TypeA, ttl), A: a.AsSlice()}
	}
	return &mdns.AAAA{Hdr: header(owner, mdns.TypeAAAA, ttl), AAAA: a.AsSlice()}
}

// childName is the name of label below parent, the root included.
func childName(label, parent string) string {
	if parent == "." {
		return label + "."
	}
	return label + "." + parent
}
