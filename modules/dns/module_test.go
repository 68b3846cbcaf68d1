package dns_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
)

func TestModule(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	var (
		s         *dnsmod.Server
		listeners []component.Listener
	)
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(testutil.NewBundle(t, c)),
		fx.Provide(zap.NewNop),
		dnsmod.ProvideRecords(func(log *zap.Logger) []dnsmod.Record { // a constructor with a dependency
			return []dnsmod.Record{{Name: "a.istio-system.svc", Addrs: []netip.Addr{netip.MustParseAddr("10.1.1.1")}}}
		}),
		dnsmod.ProvideRecords(func() ([]dnsmod.Record, error) {
			return []dnsmod.Record{{Name: "c.istio-system.svc", Addrs: []netip.Addr{netip.MustParseAddr("10.3.3.3")}}}, nil
		}),
		dnsmod.Records(dnsmod.Record{Name: "b.istio-system.svc", Addrs: []netip.Addr{netip.MustParseAddr("10.2.2.2")}}),
		dnsmod.Module(dnsmod.Options{Addr: "127.0.0.1:0"}),
		fx.Populate(&s),
		fx.Invoke(func(in component.ListenersIn) { listeners = in.Listeners }),
	)
	require.Error(t, s.Ready(context.Background()), "not listening before OnStart")
	app.RequireStart()

	require.NoError(t, s.Ready(context.Background()))
	require.Len(t, listeners, 1)
	assert.Same(t, s, listeners[0], "the server joins the plane's listeners")
	for name, want := range map[string]string{
		"istiod.istio-system.svc.": "127.0.0.1", // the certificate's name, in the default namespace's zone
		"a.istio-system.svc.":      "10.1.1.1",  // through ProvideRecords
		"c.istio-system.svc.":      "10.3.3.3",  // through ProvideRecords, with an error result
		"b.istio-system.svc.":      "10.2.2.2",  // through Records
	} {
		resp := exchange(t, s.Addr(), c.Roots(), question(1, name, mdns.TypeA))
		require.Len(t, resp.Answer, 1, name)
		assert.Equal(t, want, resp.Answer[0].(*mdns.A).A.String())
	}

	app.RequireStop()
	assert.ErrorContains(t, s.Ready(context.Background()), "not listening", "OnStop closed the listener")
}

// TestModuleNamespace: the module's zone is that of the plane's namespace
// (component.Env), where its certificate's name istiod.<namespace>.svc lies.
func TestModuleNamespace(t *testing.T) {
	t.Parallel()
	c := testutil.NewCA(t)
	var s *dnsmod.Server
	app := fxtest.New(t,
		fx.NopLogger,
		component.SupplyEnv(component.Env{Namespace: "mesh"}),
		fx.Supply(testutil.NewBundle(t, c, "istiod.mesh.svc", "localhost")),
		fx.Provide(zap.NewNop),
		dnsmod.Records(dnsmod.Record{Name: "xds.mesh.svc", Addrs: []netip.Addr{netip.MustParseAddr("10.1.1.1")}}),
		dnsmod.Module(dnsmod.Options{Addr: "127.0.0.1:0"}),
		fx.Populate(&s),
	)
	app.RequireStart()
	defer app.RequireStop()

	resp := exchange(t, s.Addr(), c.Roots(), question(1, "istiod.mesh.svc.", mdns.TypeA))
	assert.Equal(t, mdns.RcodeSuccess, resp.Rcode)
	assert.Equal(t, []string{"istiod.mesh.svc.\t30\tIN\tA\t127.0.0.1"}, rrs(resp.Answer))
	resp = exchange(t, s.Addr(), c.Roots(), question(2, "xds.mesh.svc.", mdns.TypeA))
	assert.Equal(t, []string{"xds.mesh.svc.\t30\tIN\tA\t10.1.1.1"}, rrs(resp.Answer))
	resp = exchange(t, s.Addr(), c.Roots(), question(3, "mesh.svc.", mdns.TypeNS))
	assert.Equal(t, []string{"mesh.svc.\t30\tIN\tNS\tistiod.mesh.svc."}, rrs(resp.Answer), "the zone's apex")
	resp = exchange(t, s.Addr(), c.Roots(), question(4, "istiod.istio-system.svc.", mdns.TypeA))
	assert.Equal(t, mdns.RcodeToString[mdns.RcodeRefused], mdns.RcodeToString[resp.Rcode], "not the default namespace's zone")

	// Zones that are set replace the namespace's.
	app2 := fx.New(
		fx.NopLogger,
		component.SupplyEnv(component.Env{Namespace: "mesh"}),
		fx.Supply(testutil.NewBundle(t, c, "istiod.mesh.svc", "localhost")),
		fx.Provide(zap.NewNop),
		dnsmod.Records(dnsmod.Record{Name: "xds.mesh.svc", Addrs: []netip.Addr{netip.MustParseAddr("10.1.1.1")}}),
		dnsmod.Module(dnsmod.Options{Addr: "127.0.0.1:0", Zones: []string{"example.org"}}),
	)
	assert.ErrorContains(t, app2.Err(), `dns record "xds.mesh.svc": outside every zone of this server (example.org.)`)
}

// TestModuleRecordOutsideZones: a contributed record outside every zone
// fails the composition before anything starts, naming the record; so does
// a records constructor's error.
func TestModuleRecordOutsideZones(t *testing.T) {
	t.Parallel()
	bundle := testutil.NewBundle(t, testutil.NewCA(t))
	app := fx.New(
		fx.NopLogger,
		fx.Supply(bundle),
		fx.Provide(zap.NewNop),
		dnsmod.Records(dnsmod.Record{Name: "x.example.com", Addrs: []netip.Addr{netip.MustParseAddr("10.1.1.1")}}),
		dnsmod.Module(dnsmod.Options{Addr: "127.0.0.1:0"}),
	)
	err := app.Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `dns record "x.example.com": outside every zone of this server (istio-system.svc.)`)

	app = fx.New(
		fx.NopLogger,
		fx.Supply(bundle),
		fx.Provide(zap.NewNop),
		dnsmod.ProvideRecords(func() ([]dnsmod.Record, error) { return nil, errors.New("no records today") }),
		dnsmod.Module(dnsmod.Options{Addr: "127.0.0.1:0"}),
	)
	assert.ErrorContains(t, app.Err(), "no records today")
}

// TestModuleInvalidOptions: invalid options fail the composition before
// anything runs, naming the Go fields.
func TestModuleInvalidOptions(t *testing.T) {
	t.Parallel()
	app := fx.New(
		fx.NopLogger,
		fx.Supply(testutil.NewBundle(t, testutil.NewCA(t))),
		fx.Provide(zap.NewNop),
		dnsmod.Module(dnsmod.Options{SelfAddrs: []string{"x"}, Zones: []string{"a.svc", "a..svc"}}),
	)
	err := app.Err()
	require.Error(t, err)
	var oe *component.OptionsError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "dns", oe.Part)
	assert.Contains(t, err.Error(), "dns part: ")
	assert.Contains(t, err.Error(), `dns.Options.Zones[1]: "a..svc" is not a valid domain name`)
	assert.Contains(t, err.Error(), `dns.Options.SelfAddrs[0]: "x" is not an IP address`)
}
