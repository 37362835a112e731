package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's Prometheus collectors, registered on the
// registry given in Deps (never the global default registry).
type metrics struct {
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	schemaOps     *prometheus.CounterVec
	auditWrites   *prometheus.CounterVec
	verifications *prometheus.CounterVec
	deniedDropped prometheus.Counter
	handler       http.Handler
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "spangate", Name: "requests_total",
			Help: "Requests by route, action, policy decision (allow, deny, or none when no decision was made) and HTTP status.",
		}, []string{"route", "action", "decision", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "spangate", Name: "request_duration_seconds",
			Help:    "Request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route"}),
		schemaOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "spangate", Name: "schema_operations_total",
			Help: "Schema update operations issued by applies, by database.",
		}, []string{"database"}),
		auditWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "spangate", Name: "audit_writes_total",
			Help: "Audit entries written, by result of the request (ok, denied, failed) and outcome of the write (written, error, unknown: the commit got no answer).",
		}, []string{"result", "write"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "spangate", Name: "token_verifications_total",
			Help: "Bearer and subject token verifications, by kind (ci, session) and result (ok, refused, unavailable).",
		}, []string{"kind", "result"}),
		deniedDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "spangate", Name: "denials_over_rate_total",
			Help: "Denied requests refused with 429 and not recorded, because their principal or client address passed limits.deny_rate.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.schemaOps, m.auditWrites, m.verifications, m.deniedDropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return m, nil
}
