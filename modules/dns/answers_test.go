package dns_test

import (
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
)

// rrs formats records as miekg/dns prints them, to compare whole sections.
func rrs(rr []mdns.RR) []string {
	var out []string
	for _, r := range rr {
		out = append(out, r.String())
	}
	return out
}

// TestAnswers asks a running server, over TLS with miekg/dns's client, for
// the own names, contributed records and names it does not have.
func TestAnswers(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, dnsmod.Options{}, testutil.NewBundle(t, c), nil, testRecords...)
	const soa = "istio-system.svc.\t30\tIN\tSOA\tistiod.istio-system.svc. hostmaster.istio-system.svc. "

	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		rcode     int
		aa        bool
		answer    []string
		authority string // prefix of the one authority record, if any
		extra     []string
	}{
		{"own name A", "istiod.istio-system.svc.", mdns.TypeA, mdns.RcodeSuccess, true,
			[]string{"istiod.istio-system.svc.\t30\tIN\tA\t127.0.0.1"}, "", nil},
		{"own name AAAA", "istiod.istio-system.svc.", mdns.TypeAAAA, mdns.RcodeSuccess, true,
			[]string{"istiod.istio-system.svc.\t30\tIN\tAAAA\t::1"}, "", nil},
		{"names are case-insensitive; the question's case is kept", "IsTioD.ISTIO-system.Svc.", mdns.TypeA, mdns.RcodeSuccess, true,
			[]string{"IsTioD.ISTIO-system.Svc.\t30\tIN\tA\t127.0.0.1"}, "", nil},
		{"contributed A with its TTL", "xds.istio-system.svc.", mdns.TypeA, mdns.RcodeSuccess, true,
			[]string{"xds.istio-system.svc.\t5\tIN\tA\t10.0.0.1"}, "", nil},
		{"contributed AAAA", "XDS.istio-system.svc.", mdns.TypeAAAA, mdns.RcodeSuccess, true,
			[]string{"XDS.istio-system.svc.\t5\tIN\tAAAA\tfd00::1"}, "", nil},
		{"contributed SRV, target addresses in additional", "_grpc._tcp.istiod.istio-system.svc.", mdns.TypeSRV, mdns.RcodeSuccess, true,
			[]string{"_grpc._tcp.istiod.istio-system.svc.\t30\tIN\tSRV\t1 10 15012 istiod.istio-system.svc."}, "",
			[]string{"istiod.istio-system.svc.\t30\tIN\tA\t127.0.0.1", "istiod.istio-system.svc.\t30\tIN\tAAAA\t::1"}},
		{"ANY gives every record of the name", "istiod.istio-system.svc.", mdns.TypeANY, mdns.RcodeSuccess, true,
			[]string{"istiod.istio-system.svc.\t30\tIN\tA\t127.0.0.1", "istiod.istio-system.svc.\t30\tIN\tAAAA\t::1"}, "", nil},
		{"zone apex SOA", "istio-system.svc.", mdns.TypeSOA, mdns.RcodeSuccess, true, nil, "", nil},
		{"zone apex NS names the own name", "istio-system.svc.", mdns.TypeNS, mdns.RcodeSuccess, true,
			[]string{"istio-system.svc.\t30\tIN\tNS\tistiod.istio-system.svc."}, "", nil},
		{"NODATA: the name exists without the type", "istiod.istio-system.svc.", mdns.TypeMX, mdns.RcodeSuccess, true, nil, soa, nil},
		{"NODATA: a contributed name without the type", "xds.istio-system.svc.", mdns.TypeTXT, mdns.RcodeSuccess, true, nil, soa, nil},
		{"NODATA: an empty non-terminal exists (RFC 8020)", "_tcp.istiod.istio-system.svc.", mdns.TypeA, mdns.RcodeSuccess, true, nil, soa, nil},
		{"NXDOMAIN inside the zone, with its SOA", "nope.istio-system.svc.", mdns.TypeA, mdns.RcodeNameError, true, nil, soa, nil},
		{"NXDOMAIN below an own name", "a.b.istiod.istio-system.svc.", mdns.TypeAAAA, mdns.RcodeNameError, true, nil, soa, nil},
		{"REFUSED outside every zone", "example.com.", mdns.TypeA, mdns.RcodeRefused, false, nil, "", nil},
		{"REFUSED for the zone's parent", "svc.", mdns.TypeA, mdns.RcodeRefused, false, nil, "", nil},
		{"REFUSED for the loopback certificate name", "localhost.", mdns.TypeA, mdns.RcodeRefused, false, nil, "", nil},
		{"REFUSED for zone transfers", "istio-system.svc.", mdns.TypeAXFR, mdns.RcodeRefused, false, nil, "", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := uint16(1000 + i)

			resp := exchange(t, s.Addr(), c.Roots(), question(id, tt.qname, tt.qtype))

			assert.Equal(t, id, resp.Id)
			assert.True(t, resp.Response)
			assert.Equal(t, mdns.RcodeToString[tt.rcode], mdns.RcodeToString[resp.Rcode])
			assert.Equal(t, tt.aa, resp.Authoritative, "AA")
			assert.True(t, resp.RecursionDesired, "RD is copied from the query")
			assert.False(t, resp.RecursionAvailable, "RA")
			require.Len(t, resp.Question, 1)
			assert.Equal(t, mdns.Question{Name: tt.qname, Qtype: tt.qtype, Qclass: mdns.ClassINET}, resp.Question[0])
			if tt.qtype == mdns.TypeSOA {
				require.Len(t, resp.Answer, 1)
				assert.Contains(t, resp.Answer[0].String(), soa)
			} else {
				assert.Equal(t, tt.answer, rrs(resp.Answer))
			}
			if tt.authority == "" {
				assert.Empty(t, resp.Ns)
			} else {
				require.Len(t, resp.Ns, 1)
				assert.Contains(t, resp.Ns[0].String(), tt.authority)
				assert.Equal(t, uint32(30), resp.Ns[0].(*mdns.SOA).Minttl, "negative answers are cached for the TTL (RFC 2308)")
			}
			assert.Equal(t, tt.extra, rrs(resp.Extra))
		})
	}
}

// TestAnswersEDNS covers the OPT record: echoed with DO, BADVERS for an
// unknown version, and padding to 468-byte blocks for a padded query.
func TestAnswersEDNS(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, dnsmod.Options{}, testutil.NewBundle(t, c), nil)

	t.Run("OPT echoed with DO", func(t *testing.T) {
		m := question(1, "istiod.istio-system.svc.", mdns.TypeA).SetEdns0(4096, true)
		resp := exchange(t, s.Addr(), c.Roots(), m)
		assert.Equal(t, mdns.RcodeSuccess, resp.Rcode)
		require.Len(t, resp.Answer, 1)
		opt := resp.IsEdns0()
		require.NotNil(t, opt, "an EDNS query gets an OPT record (RFC 6891 7)")
		assert.True(t, opt.Do(), "DO is copied (RFC 3225 3)")
		assert.Equal(t, uint8(0), opt.Version())
	})
	t.Run("no OPT without EDNS", func(t *testing.T) {
		resp := exchange(t, s.Addr(), c.Roots(), question(2, "istiod.istio-system.svc.", mdns.TypeA))
		assert.Nil(t, resp.IsEdns0())
	})
	t.Run("BADVERS for EDNS version 1", func(t *testing.T) {
		m := question(3, "istiod.istio-system.svc.", mdns.TypeA).SetEdns0(4096, false)
		m.IsEdns0().SetVersion(1)
		resp := exchange(t, s.Addr(), c.Roots(), m)
		assert.Equal(t, mdns.RcodeToString[mdns.RcodeBadVers], mdns.RcodeToString[resp.Rcode])
		assert.Empty(t, resp.Answer)
	})
	t.Run("padded query, padded answer", func(t *testing.T) {
		m := question(4, "istiod.istio-system.svc.", mdns.TypeA).SetEdns0(4096, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &mdns.EDNS0_PADDING{Padding: make([]byte, 20)})
		conn := dial(t, s.Addr(), c.Roots())
		_, err := conn.Write(frame(pack(t, m)))
		require.NoError(t, err)
		raw, err := readMsg(conn)
		require.NoError(t, err)
		assert.Zero(t, len(raw)%468, "padded to a multiple of 468 bytes (RFC 8467 4.1), got %d", len(raw))
		resp := new(mdns.Msg)
		require.NoError(t, resp.Unpack(raw))
		require.Len(t, resp.Answer, 1)
		var padded bool
		for _, o := range resp.IsEdns0().Option {
			padded = padded || o.Option() == mdns.EDNS0PADDING
		}
		assert.True(t, padded)
	})
}

// TestAnswersClass: class IN and ANY are served; others are refused.
func TestAnswersClass(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, dnsmod.Options{}, testutil.NewBundle(t, c), nil)
	for class, want := range map[uint16]int{mdns.ClassINET: mdns.RcodeSuccess, mdns.ClassANY: mdns.RcodeSuccess, mdns.ClassCHAOS: mdns.RcodeRefused} {
		m := question(7, "istiod.istio-system.svc.", mdns.TypeA)
		m.Question[0].Qclass = class
		resp := exchange(t, s.Addr(), c.Roots(), m)
		assert.Equal(t, mdns.RcodeToString[want], mdns.RcodeToString[resp.Rcode], mdns.ClassToString[class])
	}
}

// TestAnswersOptions: zones, own addresses and the TTL come from Options,
// the own names from the serving certificate; its names outside the zones
// and its IP addresses are not served.
func TestAnswersOptions(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	s, _ := startServer(t, dnsmod.Options{
		Zones:     []string{"mesh.svc", "Example.ORG."},
		SelfAddrs: []string{"192.0.2.7"},
		TTL:       component.Duration(5 * time.Minute),
	}, testutil.NewBundle(t, c, "istiod.mesh.svc", "CP.example.org", "localhost", "127.0.0.1"), nil)

	for _, name := range []string{"istiod.mesh.svc.", "cp.example.org."} {
		resp := exchange(t, s.Addr(), c.Roots(), question(1, name, mdns.TypeA))
		assert.Equal(t, []string{name + "\t300\tIN\tA\t192.0.2.7"}, rrs(resp.Answer))
		resp = exchange(t, s.Addr(), c.Roots(), question(1, name, mdns.TypeAAAA))
		assert.Empty(t, resp.Answer, "no IPv6 own address")
		assert.Equal(t, mdns.RcodeSuccess, resp.Rcode)
	}
	resp := exchange(t, s.Addr(), c.Roots(), question(1, "istiod.istio-system.svc.", mdns.TypeA))
	assert.Equal(t, mdns.RcodeRefused, resp.Rcode, "the default zone is replaced")
	resp = exchange(t, s.Addr(), c.Roots(), question(1, "nope.example.org.", mdns.TypeA))
	assert.Equal(t, mdns.RcodeNameError, resp.Rcode)
	require.Len(t, resp.Ns, 1)
	assert.Equal(t, "example.org.", resp.Ns[0].Header().Name)
	assert.Equal(t, "cp.example.org.", resp.Ns[0].(*mdns.SOA).Ns, "the SOA names the own name inside the zone")
	resp = exchange(t, s.Addr(), c.Roots(), question(1, "localhost.", mdns.TypeA))
	assert.Equal(t, mdns.RcodeRefused, resp.Rcode)
}
