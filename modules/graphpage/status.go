package graphpage

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/graph"
	"github.com/bootgraph/bootgraph/internal/pemutil"
	"github.com/bootgraph/bootgraph/modules/ca"
	"github.com/bootgraph/bootgraph/modules/monitoring"
	"github.com/bootgraph/bootgraph/modules/servingcert"
)

// StatusSchema names the version of the status JSON (PathStatus),
// documented in graph/SCHEMA.md; fields are only added within it.
const StatusSchema = "bootgraph.dev/status/v1"

// Status is the running plane's live state, as the graph page shows it on
// its nodes: each listener's address and readiness, the serving
// certificate every TLS listener presents, and the CA's roots.
type Status struct {
	Schema string    `json:"schema"`
	Time   time.Time `json:"time"`
	// Ready is true when every listener is ready.
	Ready       bool             `json:"ready"`
	Listeners   []ListenerStatus `json:"listeners"`
	Certificate *CertStatus      `json:"certificate,omitempty"`
	CA          *CAStatus        `json:"ca,omitempty"`
}

// ListenerStatus is one listener of the plane.
type ListenerStatus struct {
	Name  string `json:"name"`
	Addr  string `json:"addr"`
	Ready bool   `json:"ready"`
	// Error says why it is not ready.
	Error string `json:"error,omitempty"`
	// Type is the listener's Go type as the graph writes types
	// ("*grpc.Server"); Node and Module are the graph node that provides
	// it and its module.
	Type   string `json:"type"`
	Node   string `json:"node,omitempty"`
	Module string `json:"module,omitempty"`
	// TLS is true when it presents the serving certificate (its node
	// needs *servingcert.Bundle).
	TLS bool `json:"tls,omitempty"`
}

// CertStatus is a certificate.
type CertStatus struct {
	// Node is the graph node that provides it, when it is the serving
	// certificate (the *servingcert.Bundle's provider).
	Node      string    `json:"node,omitempty"`
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Names     []string  `json:"names,omitempty"` // DNS names, IP addresses and URIs
	Serial    string    `json:"serial,omitempty"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// RenewAt is when the serving certificate is renewed.
	RenewAt time.Time `json:"renewAt,omitzero"`
	// Valid is true when it is valid now; Error says why not.
	Valid bool   `json:"valid"`
	Error string `json:"error,omitempty"`
}

// CAStatus is the CA: the certificate it signs with and its roots.
type CAStatus struct {
	Node    string       `json:"node,omitempty"` // the *ca.CA's provider
	Signing *CertStatus  `json:"signing,omitempty"`
	Roots   []CertStatus `json:"roots"`
	Error   string       `json:"error,omitempty"`
}

// statusSource reads the plane's status; the node of each type is looked
// up once in the graph (its structure does not change while it runs).
type statusSource struct {
	src        graph.Source
	listeners  []component.Listener
	monitoring *monitoring.Server
	bundle     *servingcert.Bundle
	ca         *ca.CA

	once      sync.Once
	providers map[string]*graph.Node // type → the node that provides it
	needs     map[string]map[string]bool
}

func (s *statusSource) index() {
	s.providers, s.needs = map[string]*graph.Node{}, map[string]map[string]bool{}
	g, err := s.src.Graph()
	if err != nil {
		return
	}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Kind == graph.KindMissing || n.Kind == graph.KindAbsent {
			continue
		}
		for _, p := range n.Outputs {
			if p.Group != "" || p.Name != "" {
				continue
			}
			if prev, ok := s.providers[p.Type]; !ok || prev.Kind != graph.KindConstructor && n.Kind == graph.KindConstructor {
				s.providers[p.Type] = n
			}
		}
		s.needs[n.ID] = map[string]bool{}
		for _, p := range n.Inputs {
			s.needs[n.ID][p.Type] = true
		}
	}
}

// typeName is a value's type as the graph writes it: "*grpc.Server".
func typeName(v any) string { return reflect.TypeOf(v).String() }

// Status reads the plane's status now.
func (s *statusSource) Status(ctx context.Context) Status {
	s.once.Do(s.index)
	st := Status{Schema: StatusSchema, Time: time.Now().UTC(), Ready: true, Listeners: []ListenerStatus{}}
	add := func(l component.Listener, ready error) {
		ls := ListenerStatus{Name: l.Name(), Addr: l.Addr(), Ready: ready == nil, Type: typeName(l)}
		if ready != nil {
			ls.Error = ready.Error()
			st.Ready = false
		}
		if n := s.providers[ls.Type]; n != nil {
			ls.Node, ls.Module = n.ID, n.Module
			ls.TLS = s.bundle != nil && s.needs[n.ID][typeName(s.bundle)]
		}
		st.Listeners = append(st.Listeners, ls)
	}
	for _, l := range s.listeners {
		add(l, l.Ready(ctx))
	}
	if m := s.monitoring; m != nil {
		// Its own binding: Server.Ready is every listener's.
		add(m, m.Binding.Ready(ctx))
	}
	if b := s.bundle; b != nil {
		if leaf := b.Leaf(); leaf != nil {
			c := certStatus(leaf, st.Time)
			c.RenewAt = b.RenewAt().UTC()
			if err := b.Valid(st.Time); err != nil {
				c.Valid, c.Error = false, err.Error()
			}
			if n := s.providers[typeName(b)]; n != nil {
				c.Node = n.ID
			}
			st.Certificate = &c
		}
	}
	if c := s.ca; c != nil {
		cs := &CAStatus{Roots: []CertStatus{}}
		if n := s.providers[typeName(c)]; n != nil {
			cs.Node = n.ID
		}
		if sc := c.SigningCert(); sc != nil {
			v := certStatus(sc, st.Time)
			cs.Signing = &v
		}
		roots, err := pemutil.ParseCerts(c.RootPEM())
		if err != nil {
			cs.Error = fmt.Sprintf("roots: %v", err)
		}
		for _, r := range roots {
			cs.Roots = append(cs.Roots, certStatus(r, st.Time))
		}
		st.CA = cs
	}
	return st
}

func certStatus(c *x509.Certificate, now time.Time) CertStatus {
	s := CertStatus{
		Subject: c.Subject.String(), Issuer: c.Issuer.String(),
		Serial:    hex.EncodeToString(c.SerialNumber.Bytes()),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		Valid: !now.Before(c.NotBefore) && !now.After(c.NotAfter),
	}
	s.Names = append(s.Names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		s.Names = append(s.Names, ip.String())
	}
	for _, u := range c.URIs {
		s.Names = append(s.Names, u.String())
	}
	if !s.Valid {
		s.Error = "not valid at " + now.Format(time.RFC3339) + " (valid " + s.NotBefore.Format(time.RFC3339) + " to " + s.NotAfter.Format(time.RFC3339) + ")"
	}
	return s
}
