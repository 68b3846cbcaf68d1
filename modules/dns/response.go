package dns

import (
	"encoding/binary"
	"fmt"
	"slices"

	mdns "github.com/miekg/dns"
)

// DNS header layout (RFC 1035 4.1.1).
const (
	headerLen  = 12
	flagQR     = 1 << 15
	flagRD     = 1 << 8
	flagCD     = 1 << 4
	opcodeMask = 0xF << 11
)

// EDNS (RFC 6891) and padding (RFC 7830, RFC 8467).
const (
	ednsUDPSize   = 1232 // the DNS flag day 2020 value; over TLS it only informs
	ednsFlagDO    = 1 << 15
	optFixedLen   = 11  // root name, type, class, TTL, RDLENGTH
	padOptionLen  = 4   // option code and length
	padBlockSize  = 468 // RFC 8467's block size for responses
	extRcodeShift = 4   // an extended RCODE's upper 8 bits go into the OPT TTL
)

// maxTail is the longest packed answer, authority and additional sections
// that still fit a 64 KiB message with the longest question and a padded OPT.
const maxTail = 0xFFFF - headerLen - (maxNameLen + 4) - (optFixedLen + padOptionLen + padBlockSize - 1)

// response is one precomputed answer without the ID and the question, which
// come from the query: serving it is a copy.
type response struct {
	flags  uint16    // QR, AA and RCODE
	counts [3]uint16 // records in the answer, authority and additional sections
	tail   []byte    // those sections, packed
}

// rcodeResponse is an answer with an RCODE and no records, not authoritative.
func rcodeResponse(rcode int) *response { return &response{flags: flagQR | uint16(rcode)} }

// packResponse packs the sections of an authoritative answer. With qname
// set, names are compressed against the question, whose offset and length
// every query for qname shares (only the case of its letters may differ);
// without, nothing is compressed, so the tail fits after any question.
func packResponse(qname string, rcode int, answer, ns, extra []mdns.RR) (*response, error) {
	m := &mdns.Msg{Compress: qname != "", Answer: answer, Ns: ns, Extra: extra}
	m.Response, m.Authoritative, m.Rcode = true, true, rcode
	if qname == "" {
		qname = "."
	}
	m.Question = []mdns.Question{{Name: qname, Qclass: mdns.ClassINET}}
	packed, err := m.Pack()
	if err != nil {
		return nil, err
	}
	off, err := mdns.PackDomainName(qname, make([]byte, maxNameLen), 0, nil, false)
	if err != nil {
		return nil, err
	}
	tail := packed[headerLen+off+4:]
	if len(tail) > maxTail {
		return nil, fmt.Errorf("the answer is %d bytes; at most %d fit a DNS message", len(tail), maxTail)
	}
	return &response{
		flags: binary.BigEndian.Uint16(packed[2:]),
		counts: [3]uint16{
			binary.BigEndian.Uint16(packed[6:]),
			binary.BigEndian.Uint16(packed[8:]),
			binary.BigEndian.Uint16(packed[10:]),
		},
		tail: slices.Clip(tail),
	}, nil
}

// table packs every answer.
func (b *builder) table() (*table, error) {
	t := &table{
		names:   make(map[string]*node, len(b.names)),
		zones:   make(map[string]*response, len(b.zones)),
		refused: rcodeResponse(mdns.RcodeRefused),
	}
	soa := func(zone string) []mdns.RR { return b.names[zone].byType[mdns.TypeSOA] }
	for w := range b.zones {
		r, err := packResponse("", mdns.RcodeNameError, nil, soa(w), nil)
		if err != nil {
			return nil, fmt.Errorf("dns zone %q: %w", b.zones[w], err)
		}
		t.zones[w] = r
	}
	for w, set := range b.names {
		n := &node{byType: make(map[uint16]*response, len(set.types)+1)}
		var err error
		if n.nodata, err = packResponse(set.owner, mdns.RcodeSuccess, nil, soa(set.zone), nil); err != nil {
			return nil, fmt.Errorf("dns name %q: %w", set.owner, err)
		}
		var all []mdns.RR
		for _, typ := range set.types {
			rrs := sameTTL(set.byType[typ])
			all = append(all, rrs...)
			if n.byType[typ], err = packResponse(set.owner, mdns.RcodeSuccess, rrs, nil, b.additional(rrs)); err != nil {
				return nil, fmt.Errorf("dns name %q, type %s: %w", set.owner, mdns.TypeToString[typ], err)
			}
		}
		if len(all) > 0 {
			if n.byType[mdns.TypeANY], err = packResponse(set.owner, mdns.RcodeSuccess, all, nil, nil); err != nil {
				return nil, fmt.Errorf("dns name %q, type ANY: %w", set.owner, err)
			}
		}
		t.names[w] = n
	}
	return t, nil
}

// additional returns the addresses of SRV targets that this server knows.
func (b *builder) additional(rrs []mdns.RR) []mdns.RR {
	var extra []mdns.RR
	for _, rr := range rrs {
		srv, ok := rr.(*mdns.SRV)
		if !ok {
			continue
		}
		w, err := wireName(srv.Target)
		if err != nil || b.names[w] == nil {
			continue
		}
		for _, typ := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
			for _, a := range sameTTL(b.names[w].byType[typ]) {
				if !slices.ContainsFunc(extra, func(e mdns.RR) bool { return mdns.IsDuplicate(e, a) }) {
					extra = append(extra, a)
				}
			}
		}
	}
	return extra
}

// sameTTL gives every record of an RRset the set's lowest TTL (RFC 2181
// 5.2), in place.
func sameTTL(rrs []mdns.RR) []mdns.RR {
	if len(rrs) == 0 {
		return rrs
	}
	low := rrs[0].Header().Ttl
	for _, rr := range rrs {
		low = min(low, rr.Header().Ttl)
	}
	for _, rr := range rrs {
		rr.Header().Ttl = low
	}
	return rrs
}
