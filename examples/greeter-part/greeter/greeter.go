// Package greeter is a part defined outside bootgraph's repository: a gRPC
// service on the plane's secure listener, with options of its own. It joins
// a plane exactly as a built-in part does: a config section with strict
// errors, --enable/--disable, its flag and variable, a row in
// `bootgraph modules`, its nodes in the graph and its name in hints.
package greeter

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"unicode/utf8"

	"go.uber.org/fx"
	gogrpc "google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/grpc"
)

// Options configure the greeter ("greeter" in the config file).
type Options struct {
	// Greeting is what Hello says before the name. Default "hello".
	Greeting string `json:"greeting,omitempty" doc:"what Hello says before the name"`
	// MaxNameLength bounds the name, in characters. Default 64.
	MaxNameLength int `json:"maxNameLength,omitempty" doc:"longer names get InvalidArgument"`
}

// SetDefaults implements component.Options.
func (o *Options) SetDefaults() {
	if o.Greeting == "" {
		o.Greeting = "hello"
	}
	if o.MaxNameLength == 0 {
		o.MaxNameLength = 64
	}
}

// Validate implements component.Options: errors name the greeter's own
// fields; the config layer adds "greeter.".
func (o *Options) Validate() error {
	var errs []error
	if strings.TrimSpace(o.Greeting) == "" {
		errs = append(errs, component.FieldErrorf("greeting", "must not be blank"))
	}
	if o.MaxNameLength < 0 {
		errs = append(errs, component.FieldErrorf("maxNameLength", "%d must not be negative", o.MaxNameLength))
	}
	return errors.Join(errs...)
}

// Part describes the greeter to the config layer, the CLI and the engine.
var Part = component.Define[Options](component.Definition[Options]{
	Name:     "greeter",
	Doc:      "a gRPC greeting service (greeter.v1.Greeter/Hello) on the secure listener",
	Provides: []reflect.Type{reflect.TypeFor[*Greeter]()},
	Flags:    []component.Flag[Options]{{Name: "greeting", Path: "greeting", Usage: "what Hello says before the name"}},
	Env:      []component.EnvVar{{Name: "GREETER_GREETING", Path: "greeting"}},
	Build: func(Options) []fx.Option {
		return []fx.Option{fx.Provide(New), grpc.ProvideService(newService)}
	},
})

func init() { component.Register(Part) }

// Module is the greeter's fx module, for Go programs.
func Module(opts Options) fx.Option { return Part.Module(opts) }

// Greeter says hello.
type Greeter struct{ opts Options }

// New makes a Greeter from its options.
func New(opts Options) *Greeter { return &Greeter{opts: opts} }

// Greet returns the greeting for name.
func (g *Greeter) Greet(name string) (string, error) {
	if name == "" || utf8.RuneCountInString(name) > g.opts.MaxNameLength {
		return "", errors.New("want a name of 1 to " + itoa(g.opts.MaxNameLength) + " characters")
	}
	return g.opts.Greeting + " " + name, nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// ServiceName is the gRPC service's full name.
const ServiceName = "greeter.v1.Greeter"

// service serves Hello(StringValue) StringValue: no generated code needed.
type service struct{ g *Greeter }

func newService(g *Greeter) *service { return &service{g: g} }

// Register implements grpc.Service.
func (s *service) Register(r gogrpc.ServiceRegistrar) {
	r.RegisterService(&gogrpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*any)(nil),
		Methods: []gogrpc.MethodDesc{{
			MethodName: "Hello",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ gogrpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.StringValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				out, err := s.g.Greet(in.GetValue())
				if err != nil {
					return nil, status.Error(codes.InvalidArgument, err.Error())
				}
				return wrapperspb.String(out), nil
			},
		}},
	}, s)
}
