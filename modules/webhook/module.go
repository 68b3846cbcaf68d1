package webhook

import (
	"context"
	"fmt"
	"net/http"
	"reflect"

	"go.uber.org/fx"
	"go.uber.org/zap"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/kube/kubeapi"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// Part describes the webhook listener to the config layer and the engine.
var Part = component.Define[Options](component.Definition[Options]{
	Name: "webhook",
	Doc: "the HTTPS admission-webhook listener (istiod's 15017) with typed admission.k8s.io/v1 handlers; " +
		"in Kubernetes mode it keeps webhook configurations' caBundle current",
	Provides: []reflect.Type{reflect.TypeFor[*Server]()},
	Hints: []component.Hint{{
		Type:   reflect.TypeFor[*kubeapi.Client](),
		Go:     "Patching webhook configurations (Options.Patch) needs a cluster: add kube.Module, or leave Patch empty",
		Config: "webhook.patch needs Kubernetes mode (kube.kubeconfig, --kubeconfig or $KUBECONFIG), or leave it empty",
	}},
	Flags: []component.Flag[Options]{{Name: "webhook-addr", Path: "addr", Usage: "HTTPS webhook listen address"}},
	Build: build,
})

func init() { component.Register(Part) }

// Module provides *Server, the HTTPS webhook listener, and adds it to the
// plane's listeners. It needs *servingcert.Bundle and a *zap.Logger;
// handlers join with Handle, HandleAdmission and ProvideHandler. When
// opts.Patch selects webhook configurations it also keeps their caBundle
// current, which needs a *kubeapi.Client (the kube part).
func Module(opts Options) fx.Option { return Part.Module(opts) }

func build(opts Options) []fx.Option {
	options := []fx.Option{
		component.Announce(Name, opts.Addr),
		fx.Provide(provideServer),
		fx.Invoke(start, beginStop),
	}
	if opts.Patch.Enabled() {
		options = append(options, fx.Invoke(registerPatcher))
	}
	return options
}

// start asks for the server: a listener in the composition always starts.
func start(*Server) {}

// beginStop begins the server's drain when the plane's stop begins: its
// hook comes after every listener's, so it stops before them, and the
// listeners drain at once rather than one after another.
func beginStop(lc fx.Lifecycle, s *Server, _ component.ListenersIn) {
	lc.Append(fx.Hook{OnStop: func(context.Context) error { s.BeginStop(); return nil }})
}

// Handle adds h at path on the webhook server. Two handlers on one path, a
// path without a leading "/", or a handler on /ready fails the plane's
// build, naming the path.
func Handle(path string, h http.Handler) fx.Option {
	return fx.Supply(fx.Annotate(Handler{Path: path, Handler: h}, fx.ResultTags(`group:"`+GroupHandlers+`"`)))
}

// HandleAdmission adds an admission.k8s.io/v1 AdmissionReview handler at
// path (see Admission):
//
//	webhook.HandleAdmission("/validate", func(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
//		return &admissionv1.AdmissionResponse{Allowed: true}
//	})
func HandleAdmission(path string, review func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse) fx.Option {
	return Handle(path, Admission(review))
}

// ProvideHandler adds the handler ctor builds from the graph; ctor returns
// a Handler, optionally with an error.
func ProvideHandler(ctor any) fx.Option {
	t := reflect.TypeOf(ctor)
	if t == nil || t.Kind() != reflect.Func || t.NumOut() < 1 || t.Out(0) != reflect.TypeFor[Handler]() {
		return fx.Error(fmt.Errorf("webhook.ProvideHandler: want a constructor returning webhook.Handler, got %v", t))
	}
	return fx.Provide(fx.Annotate(ctor, fx.ResultTags(`group:"`+GroupHandlers+`"`)))
}

type patcherParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Bundle    *servingcert.Bundle
	Log       *zap.Logger
	// Server orders the patcher's hook after the listener's: the caBundle
	// is published once the server serves.
	Server *Server
	// Client comes from the kube part (Kubernetes mode).
	Client *kubeapi.Client
}

// registerPatcher runs a Patcher of the configurations opts select. It
// needs a Kubernetes client: patch targets in a plane without the kube
// part fail the composition, naming it.
func registerPatcher(p patcherParams) error {
	patcher, err := NewPatcher(p.Client, p.Bundle, p.Options.Patch, p.Log.Named("webhook.patch"))
	if err != nil {
		return err
	}
	component.AppendRunner(p.Lifecycle, patcher.Run)
	return nil
}

type serverParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Bundle    *servingcert.Bundle
	Log       *zap.Logger
	Handlers  []Handler `group:"webhook.handlers"`
}

func provideServer(p serverParams) (component.Served[*Server], error) {
	s, err := NewServer(p.Options, p.Bundle, p.Log.Named("webhook"), p.Handlers)
	if err != nil {
		return component.Served[*Server]{}, err
	}
	return component.Serve(p.Lifecycle, s), nil
}
