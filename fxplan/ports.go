package fxplan

import (
	"reflect"
	"strings"

	"go.uber.org/dig"

	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/internal/fxopts"
)

var (
	typeIn    = reflect.TypeFor[dig.In]()
	typeOut   = reflect.TypeFor[dig.Out]()
	typeError = reflect.TypeFor[error]()
)

const lifecycleType = "fx.Lifecycle"

// port is a graph.Port with the Go type it stands for.
type port struct {
	graph.Port
	typ reflect.Type // for a group input: the element type
}

func ports(ps []port) []graph.Port {
	out := make([]graph.Port, len(ps))
	for i, p := range ps {
		out[i] = p.Port
	}
	return out
}

func newPort(t reflect.Type) port { return port{Port: graph.Port{Type: t.String()}, typ: t} }

// inputs are the ports a registration takes, in the order dig builds them.
func inputs(it *fxopts.Item) []port {
	if it.Kind == fxopts.KindSupply || it.Kind == fxopts.KindReplace {
		return nil
	}
	var in []port
	for i := range it.FnType.NumIn() {
		t := it.FnType.In(i)
		if it.Ann != nil && i < len(it.Ann.From) && it.Ann.From[i] != nil {
			t = it.Ann.From[i] // fx.From: the parameter is taken as this type
		}
		if isParamObject(t) {
			in = append(in, objectInputs(t)...)
			continue
		}
		p := newPort(t)
		if it.Ann != nil && i < len(it.Ann.ParamTags) {
			applyTag(&p, reflect.StructTag(it.Ann.ParamTags[i]), t, true)
		}
		in = append(in, p)
	}
	if it.Ann != nil && it.Ann.Hooks > 0 && !takes(in, lifecycleType) {
		// fx.OnStart/OnStop annotations inject the Lifecycle.
		in = append(in, port{Port: graph.Port{Type: lifecycleType}})
	}
	return in
}

// outputs are the ports a registration provides.
func outputs(it *fxopts.Item) []port {
	switch it.Kind {
	case fxopts.KindInvoke:
		return nil
	case fxopts.KindLogger:
		return []port{{Port: graph.Port{Type: "fxevent.Logger"}}}
	case fxopts.KindSupply, fxopts.KindReplace:
		return annotateResult(it, 0, it.ValType)
	}
	var out []port
	for i := range it.FnType.NumOut() {
		t := it.FnType.Out(i)
		if t == typeError {
			continue
		}
		if isResultObject(t) {
			out = append(out, objectOutputs(t)...)
			continue
		}
		out = append(out, annotateResult(it, i, t)...)
	}
	return out
}

// annotateResult applies fx.ResultTags and fx.As to result i of type t.
func annotateResult(it *fxopts.Item, i int, t reflect.Type) []port {
	p := newPort(t)
	if it.Ann == nil {
		return []port{p}
	}
	if i < len(it.Ann.ResultTags) {
		applyTag(&p, reflect.StructTag(it.Ann.ResultTags[i]), t, false)
	}
	if len(it.Ann.As) == 0 {
		return []port{p}
	}
	// Each fx.As annotation lists a type per result position; each one
	// provides the result once more, as that type (or as itself).
	var out []port
	for _, as := range it.Ann.As {
		q := p
		if i < len(as) && !as[i].Self {
			q.Type, q.typ = as[i].Type.String(), as[i].Type
		}
		if !hasPort(out, q) {
			out = append(out, q)
		}
	}
	return out
}

// applyTag reads dig's name/group/optional tags into p. A group input's
// type is the slice's element type.
func applyTag(p *port, tag reflect.StructTag, t reflect.Type, input bool) {
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
		p.Type, p.typ = t.Elem().String(), t.Elem()
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
func objectInputs(t reflect.Type) []port {
	var in []port
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == typeIn || !f.IsExported() && !f.Anonymous {
			continue
		}
		if isParamObject(f.Type) {
			in = append(in, objectInputs(f.Type)...)
			continue
		}
		p := newPort(f.Type)
		applyTag(&p, f.Tag, f.Type, true)
		in = append(in, p)
	}
	return in
}

// objectOutputs expands an fx.Out struct, nested ones included.
func objectOutputs(t reflect.Type) []port {
	var out []port
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == typeOut || !f.IsExported() && !f.Anonymous {
			continue
		}
		if isResultObject(f.Type) {
			out = append(out, objectOutputs(f.Type)...)
			continue
		}
		p := newPort(f.Type)
		applyTag(&p, f.Tag, f.Type, false)
		out = append(out, p)
	}
	return out
}

func hasPort(ports []port, p port) bool {
	for _, q := range ports {
		if q.Port == p.Port {
			return true
		}
	}
	return false
}

func takes(ports []port, typ string) bool {
	for _, p := range ports {
		if p.Type == typ && p.Group == "" {
			return true
		}
	}
	return false
}
