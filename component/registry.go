package component

import (
	"fmt"
	"reflect"
	"sync"
)

// The parts this program links, by registration. A part's package
// registers it in init, as database/sql drivers do, so that the engine can
// name the part that provides a missing type even when the composition
// left it out: a type's package is linked whenever something needs it.
var registry struct {
	sync.Mutex
	parts  []Part
	byName map[string]Part
}

// Register adds p to the parts this program knows. It panics if another
// part has the same name.
func Register(p Part) {
	registry.Lock()
	defer registry.Unlock()
	if registry.byName == nil {
		registry.byName = map[string]Part{}
	}
	if other, dup := registry.byName[p.Name()]; dup && other != p {
		panic(fmt.Sprintf("component.Register: two parts named %q", p.Name()))
	}
	if registry.byName[p.Name()] == nil {
		registry.byName[p.Name()] = p
		registry.parts = append(registry.parts, p)
	}
}

// Registered returns every registered part, in registration order.
func Registered() []Part {
	registry.Lock()
	defer registry.Unlock()
	return append([]Part(nil), registry.parts...)
}

// Lookup returns the registered part named name, or nil.
func Lookup(name string) Part {
	registry.Lock()
	defer registry.Unlock()
	return registry.byName[name]
}

// ProviderOf returns the first registered part that provides t, or nil.
func ProviderOf(t reflect.Type) Part {
	for _, p := range Registered() {
		for _, pt := range p.Provides() {
			if pt == t {
				return p
			}
		}
	}
	return nil
}
