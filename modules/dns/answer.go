package dns

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	mdns "github.com/miekg/dns"
)

// query is what an answer depends on.
type query struct {
	id            uint16
	flags         uint16 // the header's flags: opcode, RD, CD, ...
	name          []byte // wire format, in the query's case
	qtype, qclass uint16
	edns          bool // the query has an OPT record
	ednsVersion   uint8
	do            bool // DNSSEC OK, echoed (RFC 3225)
	padding       bool // the query is padded, so the answer is (RFC 7830)
}

// Answers that do not depend on the zones.
var (
	notImplemented = rcodeResponse(mdns.RcodeNotImplemented)
	// badVersion's RCODE, BADVERS (16), lives in the OPT record's TTL.
	badVersion = rcodeResponse(mdns.RcodeSuccess)
)

// answer appends the wire-format answer to q.
func (t *table) answer(out []byte, q *query) []byte {
	resp, extRcode := t.choose(q)
	start := len(out)
	additional := resp.counts[2]
	if q.edns {
		additional++
	}
	out = binary.BigEndian.AppendUint16(out, q.id)
	out = binary.BigEndian.AppendUint16(out, resp.flags|q.flags&(opcodeMask|flagRD|flagCD))
	out = binary.BigEndian.AppendUint16(out, 1)
	out = binary.BigEndian.AppendUint16(out, resp.counts[0])
	out = binary.BigEndian.AppendUint16(out, resp.counts[1])
	out = binary.BigEndian.AppendUint16(out, additional)
	out = append(out, q.name...)
	out = binary.BigEndian.AppendUint16(out, q.qtype)
	out = binary.BigEndian.AppendUint16(out, q.qclass)
	out = append(out, resp.tail...)
	if q.edns {
		out = appendOPT(out, len(out)-start, extRcode, q.do, q.padding)
	}
	return out
}

// choose returns the answer to q, and the upper bits of an extended RCODE.
func (t *table) choose(q *query) (*response, uint8) {
	switch {
	case q.flags&opcodeMask != mdns.OpcodeQuery<<11:
		return notImplemented, 0
	case q.edns && q.ednsVersion != 0:
		return badVersion, mdns.RcodeBadVers >> extRcodeShift
	case q.qclass != mdns.ClassINET && q.qclass != mdns.ClassANY:
		return t.refused, 0
	case q.qtype == mdns.TypeAXFR || q.qtype == mdns.TypeIXFR:
		return t.refused, 0 // no zone transfers
	}
	var lower [maxNameLen]byte
	return t.lookup(lowerASCII(lower[:], q.name), q.qtype), 0
}

// appendOPT appends the answer's OPT record to a message of msgLen bytes,
// with a padding option that brings the message to a multiple of 468 bytes
// when the query was padded (RFC 8467 4.1).
func appendOPT(out []byte, msgLen int, extRcode uint8, do, pad bool) []byte {
	var flags uint16
	if do {
		flags = ednsFlagDO
	}
	padLen := -1
	if pad {
		padLen = (padBlockSize - (msgLen+optFixedLen+padOptionLen)%padBlockSize) % padBlockSize
	}
	out = append(out, 0) // the root name
	out = binary.BigEndian.AppendUint16(out, mdns.TypeOPT)
	out = binary.BigEndian.AppendUint16(out, ednsUDPSize)
	out = append(out, extRcode, 0) // extended RCODE, version 0
	out = binary.BigEndian.AppendUint16(out, flags)
	if padLen < 0 {
		return binary.BigEndian.AppendUint16(out, 0)
	}
	out = binary.BigEndian.AppendUint16(out, uint16(padOptionLen+padLen))
	out = binary.BigEndian.AppendUint16(out, mdns.EDNS0PADDING)
	out = binary.BigEndian.AppendUint16(out, uint16(padLen))
	return append(out, make([]byte, padLen)...)
}

// handler answers the queries that miekg/dns has parsed and accepted.
type handler struct {
	table atomic.Pointer[table]
	bufs  sync.Pool // *[]byte answer buffers
}

// ServeDNS implements mdns.Handler.
func (h *handler) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	var name [maxNameLen]byte
	q, ok := queryOf(r, name[:])
	if !ok {
		// miekg/dns lets through only one question, so this is a name that
		// does not pack back into wire format.
		_ = w.WriteMsg(new(mdns.Msg).SetRcodeFormatError(r))
		return
	}
	buf, _ := h.bufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	*buf = h.table.Load().answer((*buf)[:0], &q)
	// A failed write breaks the connection; the server's next read fails
	// and closes it.
	_, _ = w.Write(*buf)
	h.bufs.Put(buf)
}

// queryOf reads q from a parsed message; name receives the question's name.
func queryOf(r *mdns.Msg, name []byte) (q query, ok bool) {
	if len(r.Question) != 1 {
		return q, false
	}
	n, err := mdns.PackDomainName(r.Question[0].Name, name, 0, nil, false)
	if err != nil {
		return q, false
	}
	q = query{
		id:     r.Id,
		flags:  uint16(r.Opcode) << 11,
		name:   name[:n],
		qtype:  r.Question[0].Qtype,
		qclass: r.Question[0].Qclass,
	}
	if r.RecursionDesired {
		q.flags |= flagRD
	}
	if r.CheckingDisabled {
		q.flags |= flagCD
	}
	if opt := r.IsEdns0(); opt != nil {
		q.edns, q.ednsVersion, q.do = true, opt.Version(), opt.Do()
		for _, o := range opt.Option {
			q.padding = q.padding || o.Option() == mdns.EDNS0PADDING
		}
	}
	return q, true
}
