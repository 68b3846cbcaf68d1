// Package xds is an xDS server on the plane's secure gRPC listener, as
// istiod serves xDS on 15012 beside its CA: go-control-plane's ADS handlers
// (envoy.service.discovery.v3.AggregatedDiscoveryService, state of the
// world and delta) answering from its snapshot cache. Off by default:
// `--enable xds` or `xds.enabled: true` turns it on; in Go, xds.Module.
//
// # What is served
//
// Clusters, endpoints (ClusterLoadAssignment), listeners and route
// configurations, from three layers merged per node, each overriding the
// one before by resource name: the resources file (every node), the shared
// resources set in Go (Snapshots.SetShared, every node), and a node's own
// (Snapshots.Set). Take *xds.Snapshots from the graph to publish:
//
//	fx.Invoke(func(s *xds.Snapshots) error {
//		return s.Set("spiffe://cluster.local/ns/default/sa/web", xds.Resources{Clusters: ..., Endpoints: ...})
//	})
//
// Each kind has its own version, a hash of what the node is served, so a
// change pushes only the kinds it changed, to the nodes it concerns.
//
// # The resources file
//
// Options.ResourcesFile (--xds-resources) is YAML or JSON: a mapping with
// up to four lists, each item an Envoy v3 resource in protobuf's JSON
// mapping (field names in lowerCamelCase or as in the .proto, durations as
// "1s", an Any with its "@type"):
//
//	clusters:  [envoy.config.cluster.v3.Cluster, ...]
//	endpoints: [envoy.config.endpoint.v3.ClusterLoadAssignment, ...]
//	listeners: [envoy.config.listener.v3.Listener, ...]
//	routes:    [envoy.config.route.v3.RouteConfiguration, ...]
//
// For example, a gRPC service "greeter" for proxyless gRPC clients
// (xds:///greeter):
//
//	listeners:
//	- name: greeter
//	  apiListener:
//	    apiListener:
//	      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
//	      rds: {routeConfigName: greeter, configSource: {ads: {}}}
//	      httpFilters:
//	      - name: router
//	        typedConfig: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
//	routes:
//	- name: greeter
//	  virtualHosts:
//	  - {name: greeter, domains: [greeter], routes: [{match: {prefix: ""}, route: {cluster: greeter}}]}
//	clusters:
//	- {name: greeter, type: EDS, edsClusterConfig: {edsConfig: {ads: {}}}}
//	endpoints:
//	- clusterName: greeter
//	  endpoints:
//	  - locality: {zone: a}   # gRPC needs a locality and a weight
//	    loadBalancingWeight: 1
//	    lbEndpoints:
//	    - endpoint: {address: {socketAddress: {address: 10.0.0.7, portValue: 50051}}}
//
// Unknown fields are errors, and every resource is checked against the
// constraints of Envoy's API and for a unique name. The types an Any may
// name are those linked into the program: this package links the HTTP
// connection manager, the router, fault and RBAC filters, TLS transport
// sockets and the common load-balancing policies. The file is read at
// start, where a bad file fails the plane, and re-read every
// reloadInterval (1s). A change is applied to every node once two reads
// in a row agree, so that a file caught half-written is not served; a bad
// edit, or a missing file, is logged once as a warning and the last good
// version stays in use.
//
// # Who may connect
//
// A stream is authenticated as the CA service authenticates a request:
// its client certificate (verified by the listener against the plane's
// roots) must carry a SPIFFE identity of the trust domain, or, without
// one, the CA's other authenticators (the token file in local mode,
// Kubernetes TokenReview) must accept its bearer token; else it ends with
// Unauthenticated. The trust domain is the CA's when the plane has one,
// else Options.TrustDomain (default cluster.local).
//
// The node is the identity: the node.id of a stream's first request must
// equal one of its caller's SPIFFE identities (spiffe://<trust domain>/ns/<namespace>/sa/<service account>),
// and stay the same on that stream; else the stream ends with
// PermissionDenied. So a workload's configuration is published under its
// identity, and no client can read another's by claiming its node.id.
// Replicas of one workload share an identity, and so a snapshot.
//
// # Drain and metrics
//
// When the plane stops, the grpc part's drain begins: every xDS stream
// ends at once with Unavailable, so that its client reconnects to another
// replica and the listener stops within its drain timeout.
//
// The metrics are istiod's: pilot_xds{version} (clients connected),
// pilot_xds_pushes{type} (responses sent; "<type>_senderr" for failed
// sends, istiod's push errors) and pilot_total_xds_rejects{type} (NACKs);
// see Metrics.
package xds
