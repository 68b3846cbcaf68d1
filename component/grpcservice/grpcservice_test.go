package grpcservice_test

import (
	"errors"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"google.golang.org/grpc"

	"github.com/bootgraph/bootgraph/component/grpcservice"
)

// registrar records the names of the services registered on it.
type registrar struct{ names []string }

func (r *registrar) RegisterService(desc *grpc.ServiceDesc, _ any) {
	r.names = append(r.names, desc.ServiceName)
}

func named(name string) func(grpc.ServiceRegistrar) {
	return func(r grpc.ServiceRegistrar) { r.RegisterService(&grpc.ServiceDesc{ServiceName: name}, nil) }
}

// service is a Service of a program's own, built from the graph.
type service struct{ name string }

func (s *service) Register(r grpc.ServiceRegistrar) { named(s.name)(r) }

// Services join the group through Register, Provide and Out, and In
// receives them all.
func TestGroup(t *testing.T) {
	t.Parallel()
	var in grpcservice.In
	require.NoError(t, fx.New(fx.NopLogger,
		grpcservice.Register(named("by.Register")),
		fx.Supply("by.Provide"),
		grpcservice.Provide(func(name string) *service { return &service{name: name} }),
		fx.Provide(func() grpcservice.Out { return grpcservice.Out{Service: grpcservice.Func(named("by.Out"))} }),
		fx.Populate(&in),
	).Err())
	r := &registrar{}
	for _, s := range in.Services {
		s.Register(r)
	}
	sort.Strings(r.names)
	assert.Equal(t, []string{"by.Out", "by.Provide", "by.Register"}, r.names)
}

func TestProvideErrors(t *testing.T) {
	t.Parallel()
	err := fx.New(fx.NopLogger,
		grpcservice.Provide(func() (*service, error) { return nil, errors.New("no service today") }),
		fx.Invoke(func(grpcservice.In) {}),
	).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no service today")

	for _, ctor := range []any{nil, &service{}, func() {}, func() string { return "" }} {
		err := fx.New(fx.NopLogger, grpcservice.Provide(ctor)).Err()
		require.Error(t, err, "%T", ctor)
		assert.Contains(t, err.Error(), "grpcservice.Provide: want a constructor whose first result implements grpcservice.Service")
	}
}
