package component_test

import (
	"errors"
	"fmt"
	"reflect"

	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/component"
)

// AuditOptions configure an example part ("audit" in a config file).
type AuditOptions struct {
	// Sink is where audit records go. Default "stdout".
	Sink string `json:"sink,omitempty" doc:"where audit records go"`
}

// SetDefaults implements component.Options.
func (o *AuditOptions) SetDefaults() {
	if o.Sink == "" {
		o.Sink = "stdout"
	}
}

// Validate implements component.Options: errors name the part's own fields.
func (o *AuditOptions) Validate() error {
	if o.Sink != "stdout" && o.Sink != "stderr" {
		return component.FieldErrorf("sink", "%q is not one of stdout, stderr", o.Sink)
	}
	return nil
}

// Auditor is what the example part provides.
type Auditor struct{ sink string }

// Define describes a part: the config layer, the CLI and the engine's hints
// learn everything about it from the definition.
func ExampleDefine() {
	part := component.Define[AuditOptions](component.Definition[AuditOptions]{
		Name:     "audit",
		Doc:      "records who asked for what",
		Provides: []reflect.Type{reflect.TypeFor[*Auditor]()},
		Flags:    []component.Flag[AuditOptions]{{Name: "audit-sink", Path: "sink", Usage: "where audit records go"}},
		Build: func(o AuditOptions) []fx.Option {
			return []fx.Option{fx.Provide(func() *Auditor { return &Auditor{sink: o.Sink} })}
		},
	})
	for _, o := range part.Options() {
		fmt.Printf("%s.%s %s, default %s: %s\n", part.Name(), o.Path, o.Type, o.Default, o.Doc)
	}

	// Invalid options fail the composition before anything runs, naming
	// the Go field.
	err := fx.ValidateApp(part.Module(AuditOptions{Sink: "syslog"}), fx.NopLogger)
	var oe *component.OptionsError
	fmt.Println(errors.As(err, &oe), oe)
	// Output:
	// audit.sink string, default "stdout": where audit records go
	// true audit part: component_test.AuditOptions.Sink: "syslog" is not one of stdout, stderr
}
