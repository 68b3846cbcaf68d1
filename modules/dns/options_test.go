package dns_test

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/plane"
)

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	var o dnsmod.Options
	o.SetDefaults()
	assert.Equal(t, dnsmod.Options{
		Addr:        "127.0.0.1:15053",
		Zones:       []string{"istio-system.svc."},
		Namespace:   "istio-system",
		SelfNames:   []string{"istiod.istio-system.svc"},
		SelfAddrs:   []string{"127.0.0.1", "::1"},
		TTL:         plane.Duration(30 * time.Second),
		IdleTimeout: plane.Duration(30 * time.Second),
	}, o)
	require.NoError(t, o.Validate())

	ns := dnsmod.Options{Namespace: "mesh", Zones: []string{"example.org"}}
	ns.SetDefaults()
	assert.Equal(t, []string{"example.org"}, ns.Zones, "set zones are kept")
	assert.Equal(t, []string{"istiod.mesh.svc"}, ns.SelfNames, "the own name follows the namespace")
	ns = dnsmod.Options{Namespace: "mesh"}
	ns.SetDefaults()
	assert.Equal(t, []string{"mesh.svc."}, ns.Zones, "the zone follows the namespace")
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(*dnsmod.Options)
		wantErr string
	}{
		{"empty addr", func(o *dnsmod.Options) { o.Addr = "" }, "dns.addr: must not be empty"},
		{"no zones", func(o *dnsmod.Options) { o.Zones = []string{} }, "dns.zones: must name at least one zone"},
		{"invalid zone", func(o *dnsmod.Options) { o.Zones = []string{"ok.svc", "bad..svc"} }, `dns.zones[1]: "bad..svc" is not a valid domain name`},
		{"empty zone", func(o *dnsmod.Options) { o.Zones = []string{""} }, "dns.zones[0]: must not be empty"},
		{"repeated zone", func(o *dnsmod.Options) { o.Zones = []string{"a.svc", "A.svc."} }, `dns.zones[1]: "A.svc." repeats dns.zones[0]`},
		{"invalid own name", func(o *dnsmod.Options) { o.SelfNames = []string{"x..y"} }, "dns.selfNames[0]"},
		{"invalid address", func(o *dnsmod.Options) { o.SelfAddrs = []string{"127.0.0.1", "nope"} }, `dns.selfAddrs[1]: "nope" is not an IP address`},
		{"address with zone", func(o *dnsmod.Options) { o.SelfAddrs = []string{"fe80::1%eth0"} }, "dns.selfAddrs[0]: \"fe80::1%eth0\" has an IPv6 zone"},
		{"negative TTL", func(o *dnsmod.Options) { o.TTL = plane.Duration(-time.Second) }, "dns.ttl: -1s must not be negative"},
		{"fractional TTL", func(o *dnsmod.Options) { o.TTL = plane.Duration(1500 * time.Millisecond) }, "dns.ttl: 1.5s is not a whole number of seconds"},
		{"huge TTL", func(o *dnsmod.Options) { o.TTL = plane.Duration(100 * 365 * 24 * time.Hour) }, "dns.ttl: 876000h0m0s is above the largest DNS TTL"},
		{"zero idle timeout", func(o *dnsmod.Options) { o.IdleTimeout = plane.Duration(-1) }, "dns.idleTimeout: -1ns must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var o dnsmod.Options
			o.SetDefaults()
			tt.change(&o)
			assert.ErrorContains(t, o.Validate(), tt.wantErr)
		})
	}
	var zeroTTL dnsmod.Options
	zeroTTL.SetDefaults()
	zeroTTL.TTL = 0
	assert.ErrorContains(t, zeroTTL.Validate(), "dns.ttl: must be at least 1s")
	ipNames := dnsmod.Options{SelfNames: []string{"127.0.0.1", "::1", "localhost"}}
	ipNames.SetDefaults()
	assert.NoError(t, ipNames.Validate(), "the certificate's IP names are allowed (and not served)")
}

// TestOptionsJSON: the config-file fields and their names; the engine's
// fields are not in the file.
func TestOptionsJSON(t *testing.T) {
	t.Parallel()
	var o dnsmod.Options
	require.NoError(t, json.Unmarshal([]byte(`{"addr":":853","zones":["a.svc"],"selfAddrs":["10.0.0.1"],"ttl":"1m","idleTimeout":"5s","namespace":"x","selfNames":["y"]}`), &o))
	assert.Equal(t, dnsmod.Options{
		Addr: ":853", Zones: []string{"a.svc"}, SelfAddrs: []string{"10.0.0.1"},
		TTL: plane.Duration(time.Minute), IdleTimeout: plane.Duration(5 * time.Second),
	}, o)
	out, err := json.Marshal(dnsmod.Options{Namespace: "x", SelfNames: []string{"y"}})
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(out))
}

// TestNewServerErrors: invalid options and records fail construction with an
// error that names them.
func TestNewServerErrors(t *testing.T) {
	t.Parallel()
	bundle := newBundle(t, newCA(t))
	tests := []struct {
		name    string
		opts    dnsmod.Options
		record  dnsmod.Record
		wantErr []string
	}{
		{"record outside every zone", dnsmod.Options{Zones: []string{"b.svc", "a.svc"}},
			dnsmod.Record{Name: "istiod.other.svc", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}},
			[]string{`dns record "istiod.other.svc"`, "outside every zone", "(a.svc., b.svc.)"}},
		{"record without data", dnsmod.Options{}, dnsmod.Record{Name: "x.istio-system.svc"},
			[]string{`dns record "x.istio-system.svc": has neither addresses nor SRV records`}},
		{"invalid record name", dnsmod.Options{},
			dnsmod.Record{Name: "x..istio-system.svc", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}},
			[]string{`dns record "x..istio-system.svc"`, "not a valid domain name"}},
		{"zero address", dnsmod.Options{}, dnsmod.Record{Name: "x.istio-system.svc", Addrs: []netip.Addr{{}}},
			[]string{`dns record "x.istio-system.svc": addrs[0]`}},
		{"invalid SRV target", dnsmod.Options{},
			dnsmod.Record{Name: "_a._tcp.istio-system.svc", SRV: []dnsmod.SRV{{Target: "a..b", Port: 1}}},
			[]string{`dns record "_a._tcp.istio-system.svc": srv[0].target`}},
		{"negative TTL", dnsmod.Options{},
			dnsmod.Record{Name: "x.istio-system.svc", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}, TTL: -time.Second},
			[]string{`dns record "x.istio-system.svc": ttl: -1s must not be negative`}},
		{"invalid option", dnsmod.Options{SelfAddrs: []string{"x"}}, dnsmod.Record{},
			[]string{"dns.selfAddrs[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var records []dnsmod.Record
			if tt.record.Name != "" {
				records = append(records, tt.record)
			}
			_, err := dnsmod.NewServer(tt.opts, bundle, zap.NewNop(), records)
			require.Error(t, err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}

	core, logs := observer.New(zapcore.InfoLevel)
	_, err := dnsmod.NewServer(dnsmod.Options{SelfNames: []string{"istiod.istio-system.svc", "localhost", "127.0.0.1"}}, bundle, zap.New(core), nil)
	require.NoError(t, err)
	skipped := logs.FilterMessage("own names not served: IP addresses or outside every zone").All()
	require.Len(t, skipped, 1)
	assert.Equal(t, []any{"localhost", "127.0.0.1"}, skipped[0].ContextMap()["names"])
}
