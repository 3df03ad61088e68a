package async

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what happens to records on their way to PostgreSQL.
type Metrics struct {
	// API side.
	Buffered prometheus.Gauge
	Enqueued prometheus.Counter
	Spooled  prometheus.Counter
	Replayed prometheus.Counter
	Dropped  prometheus.Counter
	// Waits counts writes that waited for room in a full buffer.
	Waits prometheus.Counter
	// AckWait is how long writes of a run's last batch waited for it to
	// leave memory (AckEnqueued only).
	AckWait prometheus.Histogram
	// Persister side.
	Persisted   prometheus.Counter
	WriteErrors prometheus.Counter
	Rejected    prometheus.Counter
	// Queue is how long each batch waited from leaving the api's memory
	// to its write starting: Redis (or the spool) and the pick-up.
	Queue prometheus.Histogram
	// Write is how long each batch's write to the store took.
	Write prometheus.Histogram
	// Lag is, for each finished run, the time from its end (the api's
	// clock) to the commit of its final state (the persister's clock).
	Lag prometheus.Histogram
}

// lagBuckets are seconds, from 1 ms to a minute.
var lagBuckets = []float64{.001, .0025, .005, .01, .025, .05, .075, .1, .15, .25, .5, 1, 2.5, 5, 10, 30, 60}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Buffered: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowrun_records_buffered",
			Help: "Records held in memory waiting to be enqueued."}),
		Enqueued: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowrun_records_enqueued_total",
			Help: "Records enqueued to Redis for the persister."}),
		Spooled: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowrun_records_spooled_total",
			Help: "Records written to the on-disk spool because Redis was unavailable."}),
		Replayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowrun_spool_batches_replayed_total",
			Help: "Spooled batches enqueued after Redis came back."}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowrun_records_dropped_total",
			Help: "Records lost because neither Redis, the spool nor the memory buffer could take them."}),
		Waits: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowrun_records_buffer_waits_total",
			Help: "Writes that waited for room in a full record buffer (Redis taking records slower than runs make them)."}),
		AckWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowrun_records_ack_wait_seconds",
			Help:    "Time a run's end waited for its records to be enqueued in Redis or spooled (ASYNC_ACK=enqueued).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5}}),
		Persisted: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowrun_records_persisted_total",
			Help: "Records written to PostgreSQL by the persister."}),
		WriteErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowrun_persist_errors_total",
			Help: "Batch writes that failed and will be retried."}),
		Rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowrun_batches_rejected_total",
			Help: "Batches the store rejected as invalid; archived without retry."}),
		Queue: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowrun_persist_queue_seconds",
			Help: "Time from a batch leaving the api's memory (enqueued or spooled) to the persister starting its write (api and persister clocks).", Buckets: lagBuckets}),
		Write: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowrun_persist_write_seconds",
			Help: "Time the persister took to write one batch to PostgreSQL (one transaction).", Buckets: lagBuckets}),
		Lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowrun_persist_lag_seconds",
			Help: "Time from a run's end to the commit of its final state (api and persister clocks; skew between hosts adds to it).", Buckets: lagBuckets}),
	}
	if reg != nil {
		reg.MustRegister(m.Buffered, m.Enqueued, m.Spooled, m.Replayed, m.Dropped, m.Waits, m.AckWait, m.Persisted, m.WriteErrors, m.Rejected, m.Queue, m.Write, m.Lag)
	}
	return m
}
