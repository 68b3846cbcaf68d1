package dns_test

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
)

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	var o dnsmod.Options
	o.SetDefaults()
	assert.Equal(t, dnsmod.Options{
		Addr:        "127.0.0.1:15053",
		SelfAddrs:   []string{"127.0.0.1", "::1"},
		TTL:         component.Duration(30 * time.Second),
		IdleTimeout: component.Duration(30 * time.Second),

		MaxConnections: 1024,
		DrainTimeout:   component.Duration(5 * time.Second),
	}, o, "zones depend on the plane's namespace: NewServer and the module fill them in")
	require.NoError(t, o.Validate())
	assert.Equal(t, "istio-system.svc.", dnsmod.DefaultZone, "NewServer's zone: that of istiod.istio-system.svc")

	zones := dnsmod.Options{Zones: []string{"example.org"}}
	zones.SetDefaults()
	assert.Equal(t, []string{"example.org"}, zones.Zones, "set zones are kept")
	// The module's zone follows the namespace: TestModuleNamespace.
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(*dnsmod.Options)
		wantErr string // "<path>: <message>", relative to the options
	}{
		{"empty addr", func(o *dnsmod.Options) { o.Addr = "" }, "addr: must not be empty"},
		{"addr without port", func(o *dnsmod.Options) { o.Addr = "127.0.0.1" }, `addr: "127.0.0.1" is not host:port`},
		{"invalid zone", func(o *dnsmod.Options) { o.Zones = []string{"ok.svc", "bad..svc"} }, `zones[1]: "bad..svc" is not a valid domain name`},
		{"empty zone", func(o *dnsmod.Options) { o.Zones = []string{""} }, "zones[0]: must not be empty"},
		{"repeated zone", func(o *dnsmod.Options) { o.Zones = []string{"a.svc", "A.svc."} }, `zones[1]: "A.svc." repeats zones[0]`},
		{"invalid address", func(o *dnsmod.Options) { o.SelfAddrs = []string{"127.0.0.1", "nope"} }, `selfAddrs[1]: "nope" is not an IP address`},
		{"address with zone", func(o *dnsmod.Options) { o.SelfAddrs = []string{"fe80::1%eth0"} }, "selfAddrs[0]: \"fe80::1%eth0\" has an IPv6 zone"},
		{"negative TTL", func(o *dnsmod.Options) { o.TTL = component.Duration(-time.Second) }, "ttl: -1s must not be negative"},
		{"fractional TTL", func(o *dnsmod.Options) { o.TTL = component.Duration(1500 * time.Millisecond) }, "ttl: 1.5s is not a whole number of seconds"},
		{"huge TTL", func(o *dnsmod.Options) { o.TTL = component.Duration(100 * 365 * 24 * time.Hour) }, "ttl: 876000h0m0s is above the largest DNS TTL"},
		{"zero idle timeout", func(o *dnsmod.Options) { o.IdleTimeout = component.Duration(-1) }, "idleTimeout: -1ns must be positive"},
		{"zero TTL", func(o *dnsmod.Options) { o.TTL = 0 }, "ttl: must be at least 1s"},
		{"negative maxConnections", func(o *dnsmod.Options) { o.MaxConnections = -1 }, "maxConnections: -1 must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var o dnsmod.Options
			o.SetDefaults()
			tt.change(&o)
			err := o.Validate()
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tt.wantErr), "%q does not start with %q", err, tt.wantErr)
			var fe *component.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.wantErr[:strings.Index(tt.wantErr, ": ")], fe.Path, "the path is relative to the options")
		})
	}

	var noZones dnsmod.Options
	noZones.SetDefaults()
	noZones.Zones = []string{}
	assert.NoError(t, noZones.Validate(), "no zones: the plane's zone (NewServer and the module fill it in)")

	var several dnsmod.Options
	several.SetDefaults()
	several.Addr, several.SelfAddrs = "", []string{"x"}
	err := several.Validate()
	assert.ErrorContains(t, err, "addr: must not be empty")
	assert.ErrorContains(t, err, `selfAddrs[0]: "x" is not an IP address`, "every invalid field is reported")
}

// TestOptionsJSON: the config-file fields and their names; nothing else
// (the namespace and the own names come from the plane) is in the file.
func TestOptionsJSON(t *testing.T) {
	t.Parallel()
	var o dnsmod.Options
	require.NoError(t, json.Unmarshal([]byte(`{"addr":":853","zones":["a.svc"],"selfAddrs":["10.0.0.1"],"ttl":"1m","idleTimeout":"5s"}`), &o))
	assert.Equal(t, dnsmod.Options{
		Addr: ":853", Zones: []string{"a.svc"}, SelfAddrs: []string{"10.0.0.1"},
		TTL: component.Duration(time.Minute), IdleTimeout: component.Duration(5 * time.Second),
	}, o)
	out, err := json.Marshal(dnsmod.Options{})
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(out))

	for _, field := range []string{"namespace", "selfNames"} {
		var strict dnsmod.Options
		err := component.Decode(map[string]any{field: "x"}, &strict)
		var fe *component.FieldError
		require.ErrorAs(t, err, &fe, field)
		assert.Equal(t, field, fe.Path)
		assert.ElementsMatch(t, []string{"addr", "zones", "selfAddrs", "ttl", "idleTimeout", "maxConnections", "drainTimeout"}, fe.Valid, "the config file's fields")
	}
}

// TestNewServerErrors: invalid options and records fail construction with an
// error that names them.
func TestNewServerErrors(t *testing.T) {
	t.Parallel()
	bundle := testutil.NewBundle(t, testutil.NewCA(t))
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
			[]string{`selfAddrs[0]: "x" is not an IP address`}},
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

	// The own names are the certificate's (testutil.DefaultNames): its IP
	// addresses are not DNS names, and localhost lies outside the zone.
	core, logs := observer.New(zapcore.InfoLevel)
	_, err := dnsmod.NewServer(dnsmod.Options{}, bundle, zap.New(core), nil)
	require.NoError(t, err)
	skipped := logs.FilterMessage("own names not served: outside every zone").All()
	require.Len(t, skipped, 1)
	assert.Equal(t, []any{"localhost"}, skipped[0].ContextMap()["names"])
	assert.Equal(t, []any{"istio-system.svc."}, skipped[0].ContextMap()["zones"])
}
