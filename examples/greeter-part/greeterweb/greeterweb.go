// Package greeterweb is a second out-of-tree part that needs the first: an
// HTTPS endpoint on the plane's webhook listener that greets by query
// parameter. A plane with greeterweb and without greeter fails before
// anything runs, with a hint naming the greeter part.
package greeterweb

import (
	"fmt"
	"net/http"

	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/modules/webhook"

	"example.com/greeter/greeter"
)

// Options configure greeterweb ("greeterweb" in the config file).
type Options struct {
	// Path of the endpoint. Default "/greet".
	Path string `json:"path,omitempty" doc:"where GET ?name=... is answered"`
}

// SetDefaults implements component.Options.
func (o *Options) SetDefaults() {
	if o.Path == "" {
		o.Path = "/greet"
	}
}

// Validate implements component.Options.
func (o *Options) Validate() error {
	if o.Path[0] != '/' {
		return component.FieldErrorf("path", "%q must start with \"/\"", o.Path)
	}
	return nil
}

// Part describes greeterweb.
var Part = component.Define[Options](component.Definition[Options]{
	Name:  "greeterweb",
	Doc:   "the greeter over HTTPS, on the webhook listener",
	Build: func(Options) []fx.Option { return []fx.Option{webhook.ProvideHandler(newHandler)} },
})

func init() { component.Register(Part) }

// Module is greeterweb's fx module, for Go programs.
func Module(opts Options) fx.Option { return Part.Module(opts) }

func newHandler(opts Options, g *greeter.Greeter) webhook.Handler {
	return webhook.Handler{Path: opts.Path, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := g.Greet(r.URL.Query().Get("name"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, out)
	})}
}
