package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spangate/spangate/internal/spannerdb"
)

// auditCollector exports, per open database, how the gateway's audited
// transactions went (spannerdb.AuditStats): group commit, and appends
// that lost to another replica's (a database shared by several replicas
// shows a steady rate of those).
type auditCollector struct {
	dbs *spannerDatabases
}

var auditStatDescs = []struct {
	desc  *prometheus.Desc
	value func(spannerdb.AuditStats) int64
}{
	{prometheus.NewDesc("spangate_audit_groups_total",
		"Groups of two or more DML statements committed in one transaction, by database.", []string{"database"}, nil),
		func(s spannerdb.AuditStats) int64 { return s.Groups }},
	{prometheus.NewDesc("spangate_audit_grouped_statements_total",
		"DML statements committed in groups of two or more, by database.", []string{"database"}, nil),
		func(s spannerdb.AuditStats) int64 { return s.GroupedStatements }},
	{prometheus.NewDesc("spangate_audit_group_fallbacks_total",
		"Statements of failed groups run again alone, by database.", []string{"database"}, nil),
		func(s spannerdb.AuditStats) int64 { return s.GroupFallbacks }},
	{prometheus.NewDesc("spangate_audit_stale_heads_total",
		"Audited commits that lost to another replica's append and ran again, by database.", []string{"database"}, nil),
		func(s spannerdb.AuditStats) int64 { return s.StaleHeads }},
	{prometheus.NewDesc("spangate_audit_transaction_reruns_total",
		"Audited transaction bodies run again (stale chain head, aborted or contended), by database.", []string{"database"}, nil),
		func(s spannerdb.AuditStats) int64 { return s.Reruns }},
}

func (c auditCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range auditStatDescs {
		ch <- d.desc
	}
}

func (c auditCollector) Collect(ch chan<- prometheus.Metric) {
	for name, db := range c.dbs.opened() {
		st := db.AuditStats()
		for _, d := range auditStatDescs {
			ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.value(st)), name)
		}
	}
}
