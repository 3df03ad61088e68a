package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Report is everything one bench run measured; it is written as
// docs/benchmarks.json and rendered into docs/benchmarks.md.
type Report struct {
	Generated time.Time `json:"generated"`
	// Command is how the run was started (flags included).
	Command string `json:"command"`
	Profile string `json:"profile"`
	// Reference is true when every setting is the full profile's: only
	// such a run gives the reference figures.
	Reference bool     `json:"reference_run"`
	Note      string   `json:"note,omitempty"`
	Settings  Settings `json:"settings"`
	Machine   Machine  `json:"machine"`
	Postgres  Server   `json:"postgres"`
	Redis     Server   `json:"redis"`
	// Config is the environment given to the api and the persister (URLs
	// left out), beyond which they run with their defaults.
	Config map[string]map[string]string `json:"config"`

	Cells    []Cell         `json:"cells"`
	Modes    []ModeSummary  `json:"modes"`
	Ceilings Ceilings       `json:"ceilings"`
	Lag      *LagResult     `json:"persistence_lag,omitempty"`
	Queue    *QueueResult   `json:"queue_depth,omitempty"`
	Drain    *DrainResult   `json:"drain,omitempty"`
	Targets  []TargetResult `json:"targets"`
	// Duration is the wall time of the whole run.
	DurationS float64 `json:"duration_s"`
}

// Settings are the run's parameters.
type Settings struct {
	Modes         []string `json:"modes"`
	Workflows     []string `json:"workflows"`
	Clients       []int    `json:"clients"`
	ResponseModes []string `json:"response_modes"`
	WarmupS       float64  `json:"warmup_s"`
	WindowS       float64  `json:"window_s"`
	SoakRuns      int      `json:"soak_runs"`
	SoakClients   int      `json:"soak_clients"`
	LagRate       int      `json:"lag_rate"`
	LagS          float64  `json:"lag_s"`
	LagMethod     string   `json:"lag_method,omitempty"`
	QueueRate     int      `json:"queue_rate"`
	QueueS        float64  `json:"queue_s"`
	DrainRuns     int      `json:"drain_runs"`
	NaiveS        float64  `json:"naive_s"`
	NaiveClients  int      `json:"naive_clients"`
	BuildFlags    string   `json:"build_flags,omitempty"`
	OwnServices   bool     `json:"own_services"`
}

// Machine describes where the run happened.
type Machine struct {
	Cores      int    `json:"cores"`
	CPUModel   string `json:"cpu_model"`
	MemTotalMB int64  `json:"mem_total_mb"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	// Load averages (1, 5, 15 min) before and after: other processes
	// share the cores.
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after"`
	ClockTicks int64  `json:"clk_tck"`
}

// Server is a PostgreSQL or Redis server and its relevant settings.
type Server struct {
	Version  string            `json:"version"`
	Settings map[string]string `json:"settings"`
}

// Cell is one closed-loop measurement: mode × workflow × response mode ×
// clients.
type Cell struct {
	Mode         string  `json:"mode"`
	Workflow     string  `json:"workflow"`
	ResponseMode string  `json:"response_mode"`
	Clients      int     `json:"clients"`
	Runs         int     `json:"runs"`
	Errors       int     `json:"errors"`
	FirstError   string  `json:"first_error,omitempty"`
	WindowS      float64 `json:"window_s"`
	// Windows is how many measurement windows WindowS adds up (ceiling
	// (a): two halves around each memory chain3 blocking cell); 0 means 1.
	Windows  int          `json:"windows,omitempty"`
	RunsPerS float64      `json:"runs_per_s"`
	Latency  *Percentiles `json:"latency"`
	// TTFE is streaming's time to first event: request written → first
	// `data:` line read.
	TTFE *Percentiles `json:"ttfe,omitempty"`
	// CPU per run in microseconds, from /proc/<pid>/stat (utime+stime).
	APICPUus       *float64 `json:"api_cpu_us_per_run"`
	PersisterCPUus *float64 `json:"persister_cpu_us_per_run,omitempty"`
	// PGCPUus is PostgreSQL's CPU per run (sync and async, when it runs
	// on this machine), charged like the persister's.
	PGCPUus    *float64 `json:"postgres_cpu_us_per_run,omitempty"`
	BenchCPUus *float64 `json:"bench_cpu_us_per_run"`
}

// ModeSummary is per-mode memory use and the soak.
type ModeSummary struct {
	Mode string `json:"mode"`
	// Peak RSS (VmHWM) over the process's life: every cell and the soak.
	APIPeakRSSMB       float64  `json:"api_peak_rss_mb"`
	PersisterPeakRSSMB *float64 `json:"persister_peak_rss_mb,omitempty"`
	Soak               *Soak    `json:"soak"`
	// APIDroppedRecords is flowrun_records_dropped_total at the end
	// (async): records lost because the api's buffer was full.
	APIDroppedRecords *float64 `json:"api_dropped_records,omitempty"`
	APIErrorLogLines  int      `json:"api_error_log_lines"`
	FirstAPIErrorLine string   `json:"first_api_error_line,omitempty"`
}

// Soak is RSS over a long run of chain3 blocking requests.
type Soak struct {
	Runs     int          `json:"runs"`
	Errors   int          `json:"errors"`
	Clients  int          `json:"clients"`
	RunsPerS float64      `json:"runs_per_s"`
	Samples  []RSSSample  `json:"samples"`
	Latency  *Percentiles `json:"latency"`
	// TrendPct compares mean RSS over the last quarter of the soak with
	// the second quarter (after warm-up): growth in percent.
	TrendPct float64 `json:"trend_pct"`
	// MaxBuffered is the most records the api held unenqueued during
	// the soak (async).
	MaxBuffered *int `json:"max_api_buffered_records,omitempty"`
}

// RSSSample is the api's RSS after a number of soak runs.
type RSSSample struct {
	Runs  int     `json:"runs"`
	RSSMB float64 `json:"rss_mb"`
}

// Ceilings are the reference points measured in the same run.
type Ceilings struct {
	// HTTP is (a): a bare net/http handler returning a body of the size of
	// a chain3 blocking response, in its own process.
	HTTP      []Cell `json:"http"`
	BodyBytes int    `json:"body_bytes"`
	// Naive is (b): engine run + one autocommit statement per record.
	Naive *InProcess `json:"naive_sync"`
	// Batched is the same loop with flowrun's sync recorder and store
	// (pipelined, one multi-row upsert per write): sync mode without HTTP.
	Batched *InProcess `json:"batched_sync_inprocess"`
	// Copy is (c): raw COPY of the drained rows into scratch tables.
	Copy *CopyResult `json:"copy"`
}

// InProcess is a closed loop of engine runs with records written to
// PostgreSQL, inside the bench process.
type InProcess struct {
	Workflow     string       `json:"workflow"`
	Clients      int          `json:"clients"`
	Runs         int          `json:"runs"`
	Errors       int          `json:"errors"`
	FirstError   string       `json:"first_error,omitempty"`
	WindowS      float64      `json:"window_s"`
	RunsPerS     float64      `json:"runs_per_s"`
	Latency      *Percentiles `json:"latency"`
	WritesPerRun float64      `json:"writes_per_run"`
}

// CopyResult is (c).
type CopyResult struct {
	Rows     int64   `json:"rows"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	RowsPerS float64 `json:"rows_per_s"`
	// PGCPUusPerRow is PostgreSQL's CPU per row copied (all its
	// processes), when it runs on this machine.
	PGCPUusPerRow *float64 `json:"postgres_cpu_us_per_row,omitempty"`
}

// LagResult is async persistence lag under a fixed open-loop rate.
type LagResult struct {
	Rate        int          `json:"rate"`
	DurationS   float64      `json:"duration_s"`
	Sent        int          `json:"sent"`
	Missed      int          `json:"missed"`
	Errors      int          `json:"errors"`
	AchievedPS  float64      `json:"achieved_runs_per_s"`
	Observed    int          `json:"observed"`
	NotObserved int          `json:"not_observed"`
	Lag         *Percentiles `json:"lag"`
	Request     *Percentiles `json:"request_latency"`
	Method      string       `json:"method"`
	// What PostgreSQL did meanwhile (the wait for the last runs included).
	Postgres *PGActivity `json:"postgres,omitempty"`
	// The persister's own histograms over the same window (interpolated
	// within buckets): run end → commit of its final state; per batch, from
	// leaving the api's memory to its write starting, and the write (one
	// transaction).
	PersisterLag   *Quantiles `json:"persister_lag,omitempty"`
	PersisterQueue *Quantiles `json:"persister_queue,omitempty"`
	PersisterWrite *Quantiles `json:"persister_write,omitempty"`
}

// PGActivity is PostgreSQL's background and WAL activity over a
// measurement.
type PGActivity struct {
	CheckpointBuffers int     `json:"checkpoint_buffers"`
	Autovacuums       int     `json:"autovacuums"`
	WALMBPerS         float64 `json:"wal_mb_per_s"`
	WALSyncs          int     `json:"wal_syncs"`
	WALSyncMeanUS     float64 `json:"wal_sync_mean_us,omitempty"` // 0: not timed
}

// Quantiles estimated from a histogram, in microseconds.
type Quantiles struct {
	P50 float64 `json:"p50_us"`
	P99 float64 `json:"p99_us"`
}

// QueueResult is queue depth under a fixed open-loop rate.
type QueueResult struct {
	Rate       int           `json:"rate"`
	DurationS  float64       `json:"duration_s"`
	Sent       int           `json:"sent"`
	Missed     int           `json:"missed"`
	Errors     int           `json:"errors"`
	AchievedPS float64       `json:"achieved_runs_per_s"`
	Request    *Percentiles  `json:"request_latency"`
	Samples    []QueueSample `json:"samples"`
	MaxTasks   int           `json:"max_tasks"`
	FinalTasks int           `json:"final_tasks"`
	// Q2Mean and Q4Mean are the mean queued tasks over the second and the
	// last quarter of the run; Q2Buffered and Q4Buffered the same for the
	// api's buffered records.
	Q2Mean        float64 `json:"q2_mean_tasks"`
	Q4Mean        float64 `json:"q4_mean_tasks"`
	MaxBuffered   int     `json:"max_buffered_records"`
	FinalBuffered int     `json:"final_buffered_records"`
	Q2Buffered    float64 `json:"q2_mean_buffered_records"`
	Q4Buffered    float64 `json:"q4_mean_buffered_records"`
	Bounded       bool    `json:"bounded"`
	// DrainAfterS is how long the persister needed after the load stopped
	// to empty the queue.
	DrainAfterS float64 `json:"drain_after_s"`
}

// QueueSample is one reading of the queue.
type QueueSample struct {
	T float64 `json:"t_s"`
	// Tasks are pending + active tasks (batches of records) in the asynq
	// queue; Buffered are records in the api's memory not yet enqueued.
	Tasks    int `json:"tasks"`
	Buffered int `json:"api_buffered_records"`
}

// DrainResult is the persister emptying a pre-filled queue.
type DrainResult struct {
	Runs       int      `json:"runs"`
	Tasks      int      `json:"tasks"`
	Rows       int64    `json:"rows"`
	Seconds    float64  `json:"seconds"`
	RowsPerS   float64  `json:"rows_per_s"`
	RunsPerS   float64  `json:"runs_per_s"`
	CPUusPerRw *float64 `json:"persister_cpu_us_per_row"`
	// PGCPUusPerRow is PostgreSQL's CPU per row drained (all its
	// processes, from the persister's start to the empty queue), when it
	// runs on this machine.
	PGCPUusPerRow *float64 `json:"postgres_cpu_us_per_row,omitempty"`
}

// TargetResult is one target of the issue, evaluated (reported, never
// asserted).
type TargetResult struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Want   string  `json:"want"`
	Met    bool    `json:"met"`
	Detail string  `json:"detail"`
}

// cell finds a cell.
func (r *Report) cell(mode, wf, rm string, clients int) *Cell {
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.Mode == mode && c.Workflow == wf && c.ResponseMode == rm && c.Clients == clients {
			return c
		}
	}
	return nil
}

func (r *Report) mode(m string) *ModeSummary {
	for i := range r.Modes {
		if r.Modes[i].Mode == m {
			return &r.Modes[i]
		}
	}
	return nil
}

func (r *Report) httpCeiling(clients int) *Cell {
	for i := range r.Ceilings.HTTP {
		if r.Ceilings.HTTP[i].Clients == clients {
			return &r.Ceilings.HTTP[i]
		}
	}
	return nil
}

// validate reports every figure the run's settings call for that is
// missing. It says nothing about speed.
func validate(r *Report) error {
	var errs []error
	miss := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	s := r.Settings
	if r.Machine.Cores == 0 || r.Machine.CPUModel == "" {
		miss("machine: cores or CPU model missing")
	}
	if len(s.Modes) > 0 && (r.Postgres.Version == "" || len(r.Postgres.Settings) == 0) {
		miss("postgres settings missing")
	}
	if r.Redis.Version == "" {
		miss("redis version missing")
	}
	for _, m := range s.Modes {
		for _, wf := range s.Workflows {
			for _, rm := range s.ResponseModes {
				for _, c := range s.Clients {
					cell := r.cell(m, wf, rm, c)
					name := fmt.Sprintf("%s/%s/%s/c%d", m, wf, rm, c)
					switch {
					case cell == nil:
						miss("%s: no cell", name)
						continue
					case cell.Runs == 0 || cell.RunsPerS <= 0:
						miss("%s: no completed runs (errors %d: %s)", name, cell.Errors, cell.FirstError)
					case cell.Latency == nil || cell.Latency.P50 <= 0 || cell.Latency.P99 <= 0:
						miss("%s: latency percentiles missing", name)
					}
					if cell.APICPUus == nil || cell.BenchCPUus == nil {
						miss("%s: CPU per run missing", name)
					}
					if rm == "streaming" && (cell.TTFE == nil || cell.TTFE.P50 <= 0) {
						miss("%s: time to first event missing", name)
					}
					if m == "async" && cell.PersisterCPUus == nil {
						miss("%s: persister CPU per run missing", name)
					}
				}
			}
		}
		ms := r.mode(m)
		if ms == nil {
			miss("%s: no mode summary", m)
			continue
		}
		if ms.APIPeakRSSMB <= 0 {
			miss("%s: api peak RSS missing", m)
		}
		if m == "async" && (ms.PersisterPeakRSSMB == nil || *ms.PersisterPeakRSSMB <= 0) {
			miss("%s: persister peak RSS missing", m)
		}
		if m == "async" && ms.APIDroppedRecords == nil {
			miss("%s: dropped-records count missing", m)
		}
		if s.SoakRuns > 0 && (ms.Soak == nil || ms.Soak.Runs == 0 || len(ms.Soak.Samples) < 2) {
			miss("%s: soak missing", m)
		}
	}
	for _, c := range s.Clients {
		cell := r.httpCeiling(c)
		if cell == nil || cell.RunsPerS <= 0 || cell.Latency == nil || cell.APICPUus == nil {
			miss("ceiling (a) at %d clients missing", c)
		}
	}
	if r.Ceilings.BodyBytes <= 0 {
		miss("ceiling (a): body size missing")
	}
	if n := r.Ceilings.Naive; n == nil || n.RunsPerS <= 0 || n.Latency == nil || n.WritesPerRun <= 0 {
		miss("ceiling (b): naive sync baseline missing")
	}
	if n := r.Ceilings.Batched; n == nil || n.RunsPerS <= 0 || n.Latency == nil {
		miss("in-process batched sync figure missing")
	}
	if slices.Contains(s.Modes, "async") {
		if c := r.Ceilings.Copy; c == nil || c.Rows == 0 || c.RowsPerS <= 0 {
			miss("ceiling (c): COPY missing")
		}
		if l := r.Lag; l == nil || l.Lag == nil || l.Observed == 0 || l.Lag.P99 <= 0 {
			miss("async persistence lag missing")
		} else if l.PersisterLag == nil || l.PersisterQueue == nil || l.PersisterWrite == nil || l.Postgres == nil {
			miss("async persistence lag: the persister's histograms or PostgreSQL's activity missing")
		}
		if q := r.Queue; q == nil || len(q.Samples) < 2 || q.Request == nil {
			miss("async queue depth missing")
		}
		if d := r.Drain; d == nil || d.Rows == 0 || d.RowsPerS <= 0 || d.CPUusPerRw == nil {
			miss("persister drain rate missing")
		}
	}
	if len(r.Targets) == 0 {
		miss("targets not evaluated")
	}
	return errors.Join(errs...)
}

// evaluateTargets compares the figures with the targets.
func evaluateTargets(r *Report) []TargetResult {
	var out []TargetResult
	add := func(name string, value float64, unit, want string, met bool, detail string) {
		if math.IsNaN(value) || math.IsInf(value, 0) {
			value = 0
			met = false
		}
		out = append(out, TargetResult{Name: name, Value: round3(value), Unit: unit, Want: want, Met: met, Detail: detail})
	}
	mem16 := r.cell("memory", "chain3", "blocking", 16)
	if ceil := r.httpCeiling(16); mem16 != nil && ceil != nil {
		v := mem16.RunsPerS / ceil.RunsPerS * 100
		add("memory chain3, 16 clients vs HTTP ceiling (a)", v, "%", "≥ 50 %", v >= 50,
			fmt.Sprintf("%s vs %s req/s (blocking)", num(mem16.RunsPerS), num(ceil.RunsPerS)))
	}
	mem1 := r.cell("memory", "chain3", "blocking", 1)
	if mem1 != nil && mem1.Latency != nil {
		add("memory chain3, 1 client, p50", mem1.Latency.P50, "µs", "≤ 300 µs", mem1.Latency.P50 <= 300, "blocking")
	}
	if a := r.cell("async", "chain3", "blocking", 16); a != nil && mem16 != nil {
		v := a.RunsPerS / mem16.RunsPerS * 100
		detail := fmt.Sprintf("%s vs %s runs/s (blocking)", num(a.RunsPerS), num(mem16.RunsPerS))
		if a.APICPUus != nil && mem16.APICPUus != nil && a.PersisterCPUus != nil {
			detail += fmt.Sprintf("; CPU per run: api %s µs async against %s memory, persister %s µs",
				num(*a.APICPUus), num(*mem16.APICPUus), num(*a.PersisterCPUus))
			if bound := cpuBound(mem16, a); bound > 0 {
				detail += fmt.Sprintf(", PostgreSQL %s µs, load generator %s against %s µs: with all of them on the same cores, CPU alone bounds async at %.0f %% of memory mode's rate (Redis besides)",
					num(*a.PGCPUus), num(*a.BenchCPUus), num(*mem16.BenchCPUus), bound)
			}
		}
		add("async vs memory throughput (chain3, 16 clients)", v, "%", "≥ 80 %", v >= 80, detail)
	}
	if a := r.cell("async", "chain3", "blocking", 1); a != nil && mem1 != nil && a.Latency != nil && mem1.Latency != nil {
		v := a.Latency.P50 / mem1.Latency.P50
		add("async vs memory p50 (chain3, 1 client)", v, "×", "≤ 1.2×", v <= 1.2,
			fmt.Sprintf("%s vs %s µs (blocking)", num(a.Latency.P50), num(mem1.Latency.P50)))
	}
	if l := r.Lag; l != nil && l.Lag != nil {
		v := l.Lag.P99 / 1000
		detail := fmt.Sprintf("at %s runs/s offered (%s achieved) for %g s; %s of %s runs observed", commas(fmt.Sprint(l.Rate)), num(l.AchievedPS), l.DurationS,
			commas(fmt.Sprint(l.Observed)), commas(fmt.Sprint(l.Observed+l.NotObserved)))
		if l.Rate < 1000 {
			detail += "; the target asks for 1,000 runs/s"
		}
		add("async persistence lag p99", v, "ms", "≤ 100 ms at 1,000 runs/s", v <= 100 && l.Rate >= 1000 && l.NotObserved == 0, detail)
	}
	if q := r.Queue; q != nil {
		detail := fmt.Sprintf("%s runs/s offered (%s achieved) for %g s; queued tasks max %d, mean Q2 %.1f → Q4 %.1f; api-buffered records max %s, mean Q2 %s → Q4 %s",
			commas(fmt.Sprint(q.Rate)), num(q.AchievedPS), q.DurationS, q.MaxTasks, q.Q2Mean, q.Q4Mean, commas(fmt.Sprint(q.MaxBuffered)), num(q.Q2Buffered), num(q.Q4Buffered))
		met := q.Bounded && q.AchievedPS >= 0.95*float64(q.Rate) && q.Rate >= 2000 && q.DurationS >= 60
		if q.AchievedPS < 0.95*float64(q.Rate) {
			detail += "; the offered rate was not reached"
		}
		if q.Rate < 2000 || q.DurationS < 60 {
			detail += "; the target asks for 2,000 runs/s for 60 s"
		}
		add("async queue depth bounded (last-quarter mean of queued tasks)", q.Q4Mean, "tasks", "bounded at 2,000 runs/s for 60 s", met, detail)
	}
	if s, n := r.cell("sync", "chain3", "blocking", 16), r.Ceilings.Naive; s != nil && n != nil && n.RunsPerS > 0 {
		v := s.RunsPerS / n.RunsPerS
		add("sync vs naive baseline (b)", v, "×", "≥ 2×", v >= 2,
			fmt.Sprintf("sync over HTTP %s runs/s vs naive in-process %s runs/s (chain3, %d clients)", num(s.RunsPerS), num(n.RunsPerS), n.Clients))
	}
	if d, c := r.Drain, r.Ceilings.Copy; d != nil && c != nil && c.RowsPerS > 0 {
		v := d.RowsPerS / c.RowsPerS * 100
		detail := fmt.Sprintf("%s vs %s rows/s", num(d.RowsPerS), num(c.RowsPerS))
		if d.PGCPUusPerRow != nil && c.PGCPUusPerRow != nil && d.CPUusPerRw != nil {
			detail += fmt.Sprintf("; CPU per row: PostgreSQL %s vs %s µs, persister %s µs", num(*d.PGCPUusPerRow), num(*c.PGCPUusPerRow), num(*d.CPUusPerRw))
		}
		add("persister drain vs COPY ceiling (c)", v, "%", "≥ 50 %", v >= 50, detail)
	}
	if m := r.cell("memory", "chain3", "streaming", 1); m != nil && m.TTFE != nil {
		add("streaming time to first event p50", m.TTFE.P50, "µs", "≤ 1,000 µs", m.TTFE.P50 <= 1000, "memory, chain3, 1 client")
	}
	for _, ms := range r.Modes {
		if ms.Soak == nil {
			continue
		}
		detail := fmt.Sprintf("after %s soak runs (plus every cell); RSS trend over the soak %+.1f %%", commas(fmt.Sprint(ms.Soak.Runs)), ms.Soak.TrendPct)
		met := ms.APIPeakRSSMB <= 150 && ms.Soak.TrendPct <= 10 && ms.Soak.Runs >= 100_000
		if ms.Soak.Runs < 100_000 {
			detail += "; the target asks for 100k runs"
		}
		add(ms.Mode+": api peak RSS, no upward trend", ms.APIPeakRSSMB, "MB", "≤ 150 MB, trend ≤ +10 %", met, detail)
	}
	return out
}

func round3(v float64) float64 {
	if v == 0 {
		return 0
	}
	d := math.Pow(10, 3-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*d) / d
}

// cpuBound returns, in percent of mem's runs/s, the most runs/s async can
// reach when every process shares the same cores: the CPU a memory run
// costs (api and load generator) over what an async run costs (api, load
// generator, persister and PostgreSQL). 0 if a figure is missing.
func cpuBound(mem, async *Cell) float64 {
	if mem.APICPUus == nil || mem.BenchCPUus == nil || async.APICPUus == nil || async.BenchCPUus == nil ||
		async.PersisterCPUus == nil || async.PGCPUus == nil {
		return 0
	}
	cost := *async.APICPUus + *async.BenchCPUus + *async.PersisterCPUus + *async.PGCPUus
	if cost <= 0 {
		return 0
	}
	return (*mem.APICPUus + *mem.BenchCPUus) / cost * 100
}
