package bootgraph

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"unsafe"

	"go.uber.org/fx"

	"github.com/bootgraph/bootgraph/graph"
)

// The planner reads fx's option values to learn what a composition
// registers, without running any of it. fx keeps those values in unexported
// fields (fx v1.24.0: provideOption.Targets, moduleOption.options,
// annotated.ParamTags, ...), so they are read by reflection; the field
// layout is checked by TestPlanReadsFxOptions, which fails if an fx upgrade
// changes it.

// planItem is one registration found in the option tree.
type planItem struct {
	kind     string // "provide", "supply", "decorate", "replace", "invoke"
	module   *planModule
	private  bool
	target   reflect.Value // the function (or, for supply, its stub)
	fnType   reflect.Type  // the target's function type
	valType  reflect.Type  // supply/replace: the value's type
	ann      *annotation   // fx.Annotate, if any
	in, out  []graph.Port  // the ports it takes and provides, set by index
	eventKey string        // the name fx gives it in its events
	label    string        // short name for people
	fullName string        // full function name
	location string
}

// annotation is what fx.Annotate recorded.
type annotation struct {
	paramTags  []string
	resultTags []string
	as         [][]asType
	hooks      int // fx.OnStart / fx.OnStop annotations
}

type asType struct {
	self bool
	typ  reflect.Type
}

// planModule is an fx.Module (the root has name "").
type planModule struct {
	id       string
	name     string
	parent   *planModule
	children []*planModule
	items    []*planItem // in registration order
}

// walkOptions collects the registrations of opts into root.
func walkOptions(root *planModule, opts []fx.Option) error {
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := walkOption(root, clean(reflect.ValueOf(o))); err != nil {
			return err
		}
	}
	return nil
}

func walkOption(m *planModule, v reflect.Value) error {
	switch v.Type().String() {
	case "fx.optionGroup":
		for i := range v.Len() {
			if err := walkOption(m, clean(v.Index(i).Elem())); err != nil {
				return err
			}
		}
	case "fx.moduleOption":
		name := field(v, "name").String()
		child := &planModule{id: joinModule(m.id, name), name: name, parent: m}
		m.children = append(m.children, child)
		opts := field(v, "options")
		for i := range opts.Len() {
			if err := walkOption(child, clean(opts.Index(i).Elem())); err != nil {
				return err
			}
		}
	case "fx.provideOption":
		return walkTargets(m, v, "provide")
	case "fx.invokeOption":
		return walkTargets(m, v, "invoke")
	case "fx.decorateOption":
		return walkTargets(m, v, "decorate")
	case "fx.supplyOption":
		return walkTyped(m, v, "supply", field(v, "Private").Bool())
	case "fx.replaceOption":
		return walkTyped(m, v, "replace", false)
	case "fx.withLoggerOption":
		// fx builds the event logger before any invoke, outside its own
		// event stream: drawn, never in the predicted order.
		item, err := newItem("logger", clean(field(v, "constructor").Elem()), nil)
		if err != nil {
			return fmt.Errorf("fx.WithLogger in module %q: %w", m.name, err)
		}
		item.module, item.location = m, stackLocation(field(v, "Stack"))
		m.items = append(m.items, item)
	}
	// Other options (loggers, timeouts, error hooks) register nothing.
	return nil
}

func joinModule(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "/" + name
}

// walkTargets reads a Provide/Invoke/Decorate option's targets.
func walkTargets(m *planModule, v reflect.Value, kind string) error {
	targets := field(v, "Targets")
	loc := stackLocation(field(v, "Stack"))
	private := false
	for i := range targets.Len() {
		if clean(targets.Index(i).Elem()).Type().String() == "fx.privateOption" {
			private = true
		}
	}
	for i := range targets.Len() {
		t := clean(targets.Index(i).Elem())
		if t.Type().String() == "fx.privateOption" {
			continue
		}
		item, err := newItem(kind, t, nil)
		if err != nil {
			return fmt.Errorf("fx.%s in module %q: %w", titleKind(kind), m.name, err)
		}
		item.module, item.private, item.location = m, private, loc
		m.items = append(m.items, item)
	}
	return nil
}

// walkTyped reads a Supply/Replace option: each target is a stub function
// fx made from a value, with the value's type alongside.
func walkTyped(m *planModule, v reflect.Value, kind string, private bool) error {
	targets, types := field(v, "Targets"), field(v, "Types")
	loc := stackLocation(field(v, "Stack"))
	for i := range targets.Len() {
		typ := types.Index(i).Interface().(reflect.Type)
		item, err := newItem(kind, clean(targets.Index(i).Elem()), typ)
		if err != nil {
			return fmt.Errorf("fx.%s in module %q: %w", titleKind(kind), m.name, err)
		}
		item.module, item.private, item.location = m, private, loc
		item.eventKey = "stub(" + typ.String() + ")"
		item.label = titleKind(kind) + "(" + typ.String() + ")"
		item.fullName = item.label
		m.items = append(m.items, item)
	}
	return nil
}

func titleKind(kind string) string { return strings.ToUpper(kind[:1]) + kind[1:] }

// newItem describes one target: a function, or fx.Annotate of one.
func newItem(kind string, t reflect.Value, valType reflect.Type) (*planItem, error) {
	item := &planItem{kind: kind, valType: valType}
	switch t.Type().String() {
	case "fx.annotated":
		item.ann = readAnnotation(t)
		item.eventKey = fmt.Sprint(t.Interface())
		t = clean(field(t, "Target").Elem())
	case "fx.annotationError":
		return nil, fmt.Errorf("%v", t.Interface())
	}
	if t.Kind() != reflect.Func {
		return nil, fmt.Errorf("target %s is not a function", t.Type())
	}
	item.target, item.fnType = t, t.Type()
	item.fullName = runtime.FuncForPC(t.Pointer()).Name()
	item.label = shortFuncName(item.fullName)
	if item.eventKey == "" {
		item.eventKey = item.fullName + "()"
	}
	if strings.HasPrefix(item.fullName, "reflect.") && kind == "invoke" {
		item.label = "fx.Populate"
	}
	return item, nil
}

func readAnnotation(v reflect.Value) *annotation {
	a := &annotation{}
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{"ParamTags", &a.paramTags}, {"ResultTags", &a.resultTags}} {
		tags := field(v, f.name)
		for i := range tags.Len() {
			*f.dst = append(*f.dst, tags.Index(i).String())
		}
	}
	as := field(v, "As")
	for i := range as.Len() {
		var list []asType
		for j := range as.Index(i).Len() {
			e := as.Index(i).Index(j)
			at := asType{self: field(e, "self").Bool()}
			if typ := field(e, "typ"); !typ.IsNil() {
				at.typ = typ.Interface().(reflect.Type)
			}
			list = append(list, at)
		}
		a.as = append(a.as, list)
	}
	a.hooks = field(v, "Hooks").Len()
	return a
}

// stackLocation is "file:line" of the first frame of an fxreflect.Stack.
func stackLocation(stack reflect.Value) string {
	if stack.Len() == 0 {
		return ""
	}
	f := stack.Index(0)
	return fmt.Sprintf("%s:%d", field(f, "File").String(), field(f, "Line").Int())
}

func shortFuncName(full string) string {
	full = strings.TrimSuffix(full, "()")
	if i := strings.LastIndex(full, "/"); i >= 0 {
		full = full[i+1:]
	}
	return full
}

// clean returns an addressable copy of v, so that its fields, exported or
// not, can be read through field.
func clean(v reflect.Value) reflect.Value {
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	return c
}

// field reads a struct field of an addressable value, exported or not.
func field(v reflect.Value, name string) reflect.Value {
	f := v.FieldByName(name)
	if !f.IsValid() {
		panic(fmt.Sprintf("bootgraph planner: %s has no field %s (fx changed; see plan_options.go)", v.Type(), name))
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}
