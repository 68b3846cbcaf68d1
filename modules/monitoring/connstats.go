package monitoring

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bootgraph/bootgraph/component"
)

// connStater is a listener that counts its connections: every listener on
// the component.Binding skeleton.
type connStater interface {
	component.Listener
	ConnStats() component.ConnStats
}

// listenerCollector exports each listener's connection counts.
type listenerCollector struct {
	listeners []connStater
}

var (
	openConnsDesc = prometheus.NewDesc("bootgraph_listener_open_connections",
		"Connections a listener holds open now.", []string{"listener"}, nil)
	maxConnsDesc = prometheus.NewDesc("bootgraph_listener_max_connections",
		"The cap on a listener's open connections (0: none).", []string{"listener"}, nil)
	acceptedDesc = prometheus.NewDesc("bootgraph_listener_accepted_connections_total",
		"Connections a listener accepted.", []string{"listener"}, nil)
	evictedDesc = prometheus.NewDesc("bootgraph_listener_evicted_connections_total",
		"Connections not yet answered that a full listener closed to make room for a new one.", []string{"listener"}, nil)
	refusedDesc = prometheus.NewDesc("bootgraph_listener_refused_connections_total",
		"New connections a listener full of answered ones closed at once.", []string{"listener"}, nil)
	acceptErrorsDesc = prometheus.NewDesc("bootgraph_listener_accept_errors_total",
		"Accepts that failed for want of file descriptors or memory and were retried after a delay.", []string{"listener"}, nil)
)

// newListenerCollector collects the listeners among ls that count their
// connections.
func newListenerCollector(ls ...component.Listener) *listenerCollector {
	c := &listenerCollector{}
	for _, l := range ls {
		if cs, ok := l.(connStater); ok {
			c.listeners = append(c.listeners, cs)
		}
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *listenerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{openConnsDesc, maxConnsDesc, acceptedDesc, evictedDesc, refusedDesc, acceptErrorsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *listenerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.listeners {
		st, name := l.ConnStats(), l.Name()
		ch <- prometheus.MustNewConstMetric(openConnsDesc, prometheus.GaugeValue, float64(st.Open), name)
		ch <- prometheus.MustNewConstMetric(maxConnsDesc, prometheus.GaugeValue, float64(st.Max), name)
		ch <- prometheus.MustNewConstMetric(acceptedDesc, prometheus.CounterValue, float64(st.Accepted), name)
		ch <- prometheus.MustNewConstMetric(evictedDesc, prometheus.CounterValue, float64(st.Evicted), name)
		ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(st.Refused), name)
		ch <- prometheus.MustNewConstMetric(acceptErrorsDesc, prometheus.CounterValue, float64(st.AcceptErrors), name)
	}
}
