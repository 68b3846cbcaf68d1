package bootgraph

import (
	"reflect"
	"strings"

	"go.uber.org/dig"

	"github.com/bootgraph/bootgraph/graph"
)

var (
	typeIn        = reflect.TypeFor[dig.In]()
	typeOut       = reflect.TypeFor[dig.Out]()
	typeError     = reflect.TypeFor[error]()
	lifecycleType = "fx.Lifecycle"
)

// computeInputs are the ports a registration takes, in the order dig builds
// them.
func (it *planItem) computeInputs() []graph.Port {
	var in []graph.Port
	if it.kind == "supply" {
		return nil
	}
	if it.kind == "replace" {
		return nil
	}
	for i := range it.fnType.NumIn() {
		t := it.fnType.In(i)
		if isParamObject(t) {
			in = append(in, objectInputs(t)...)
			continue
		}
		p := graph.Port{Type: t.String()}
		if it.ann != nil && i < len(it.ann.paramTags) {
			applyTag(&p, reflect.StructTag(it.ann.paramTags[i]), t, true)
		}
		in = append(in, p)
	}
	if it.ann != nil && it.ann.hooks > 0 && !takes(in, lifecycleType) {
		// fx.OnStart/OnStop annotations inject the Lifecycle.
		in = append(in, graph.Port{Type: lifecycleType})
	}
	return in
}

// computeOutputs are the ports a registration provides.
func (it *planItem) computeOutputs() []graph.Port {
	switch it.kind {
	case "invoke":
		return nil
	case "logger":
		return []graph.Port{{Type: "fxevent.Logger"}}
	case "supply", "replace":
		return it.annotateResult(0, it.valType)
	}
	var out []graph.Port
	for i := range it.fnType.NumOut() {
		t := it.fnType.Out(i)
		if t == typeError {
			continue
		}
		if isResultObject(t) {
			out = append(out, objectOutputs(t)...)
			continue
		}
		out = append(out, it.annotateResult(i, t)...)
	}
	return out
}

// annotateResult applies fx.ResultTags and fx.As to result i of type t.
func (it *planItem) annotateResult(i int, t reflect.Type) []graph.Port {
	p := graph.Port{Type: t.String()}
	if it.ann == nil {
		return []graph.Port{p}
	}
	if i < len(it.ann.resultTags) {
		applyTag(&p, reflect.StructTag(it.ann.resultTags[i]), t, false)
	}
	if len(it.ann.as) == 0 {
		return []graph.Port{p}
	}
	// Each fx.As annotation lists a type per result position; each one
	// provides the result once more, as that type (or as itself).
	var out []graph.Port
	for _, as := range it.ann.as {
		q := p
		if i < len(as) && !as[i].self {
			q.Type = as[i].typ.String()
		}
		if !hasPort(out, q) {
			out = append(out, q)
		}
	}
	return out
}

// applyTag reads dig's name/group/optional tags into p. A group input's
// type is the slice's element type.
func applyTag(p *graph.Port, tag reflect.StructTag, t reflect.Type, input bool) {
	p.Name = tag.Get("name")
	p.Optional = tag.Get("optional") == "true"
	group, opts, _ := strings.Cut(tag.Get("group"), ",")
	if group == "" {
		return
	}
	p.Group = group
	p.Soft = input && strings.Contains(opts, "soft")
	p.Flatten = !input && strings.Contains(opts, "flatten")
	if (input || p.Flatten) && t.Kind() == reflect.Slice {
		p.Type = t.Elem().String()
	}
}

func isParamObject(t reflect.Type) bool  { return embeds(t, typeIn) }
func isResultObject(t reflect.Type) bool { return embeds(t, typeOut) }

func embeds(t reflect.Type, marker reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	for i := range t.NumField() {
		if f := t.Field(i); f.Anonymous && f.Type == marker {
			return true
		}
	}
	return false
}

// objectInputs expands an fx.In struct, nested ones included.
func objectInputs(t reflect.Type) []graph.Port {
	var in []graph.Port
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == typeIn || !f.IsExported() && !f.Anonymous {
			continue
		}
		if isParamObject(f.Type) {
			in = append(in, objectInputs(f.Type)...)
			continue
		}
		p := graph.Port{Type: f.Type.String()}
		applyTag(&p, f.Tag, f.Type, true)
		in = append(in, p)
	}
	return in
}

// objectOutputs expands an fx.Out struct, nested ones included.
func objectOutputs(t reflect.Type) []graph.Port {
	var out []graph.Port
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == typeOut || !f.IsExported() && !f.Anonymous {
			continue
		}
		if isResultObject(f.Type) {
			out = append(out, objectOutputs(f.Type)...)
			continue
		}
		p := graph.Port{Type: f.Type.String()}
		applyTag(&p, f.Tag, f.Type, false)
		out = append(out, p)
	}
	return out
}

func hasPort(ports []graph.Port, p graph.Port) bool {
	for _, q := range ports {
		if q == p {
			return true
		}
	}
	return false
}

func takes(ports []graph.Port, typ string) bool {
	for _, p := range ports {
		if p.Type == typ && p.Group == "" {
			return true
		}
	}
	return false
}
