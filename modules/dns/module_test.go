package dns_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
	"github.com/bootgraph/bootgraph/modules/plane"
)

func TestModule(t *testing.T) {
	t.Parallel()
	c := newCA(t)
	var (
		s         *dnsmod.Server
		listeners []plane.Listener
	)
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(newBundle(t, c)),
		fx.Provide(zap.NewNop),
		fx.Provide(func() dnsmod.RecordOut {
			return dnsmod.RecordOut{Record: dnsmod.Record{Name: "a.istio-system.svc", Addrs: []netip.Addr{netip.MustParseAddr("10.1.1.1")}}}
		}),
		fx.Provide(fx.Annotate(func() dnsmod.Record {
			return dnsmod.Record{Name: "b.istio-system.svc", Addrs: []netip.Addr{netip.MustParseAddr("10.2.2.2")}}
		}, fx.ResultTags(`group:"`+dnsmod.GroupRecords+`"`))),
		dnsmod.Module(dnsmod.Options{Addr: "127.0.0.1:0"}),
		fx.Populate(&s),
		fx.Invoke(func(in plane.ListenersIn) { listeners = in.Listeners }),
	)
	require.Error(t, s.Ready(context.Background()), "not listening before OnStart")
	app.RequireStart()

	require.NoError(t, s.Ready(context.Background()))
	require.Len(t, listeners, 1)
	assert.Same(t, s, listeners[0], "the server joins bootgraph.listeners")
	for name, want := range map[string]string{
		"istiod.istio-system.svc.": "127.0.0.1",
		"a.istio-system.svc.":      "10.1.1.1", // through RecordOut
		"b.istio-system.svc.":      "10.2.2.2", // through the group tag
	} {
		resp := exchange(t, s.Addr(), c.Roots(), question(1, name, mdns.TypeA))
		require.Len(t, resp.Answer, 1, name)
		assert.Equal(t, want, resp.Answer[0].(*mdns.A).A.String())
	}

	app.RequireStop()
	_, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	assert.Error(t, err, "OnStop closed the listener")
}

// TestModuleRecordOutsideZones: a contributed record outside every zone
// fails the composition before anything starts, naming the record.
func TestModuleRecordOutsideZones(t *testing.T) {
	t.Parallel()
	app := fx.New(
		fx.NopLogger,
		fx.Supply(newBundle(t, newCA(t))),
		fx.Provide(zap.NewNop),
		fx.Provide(func() dnsmod.RecordOut {
			return dnsmod.RecordOut{Record: dnsmod.Record{Name: "x.example.com", Addrs: []netip.Addr{netip.MustParseAddr("10.1.1.1")}}}
		}),
		dnsmod.Module(dnsmod.Options{Addr: "127.0.0.1:0"}),
	)
	err := app.Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `dns record "x.example.com": outside every zone of this server (istio-system.svc.)`)
}
