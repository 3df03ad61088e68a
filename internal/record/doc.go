// Package record turns a run's engine events into execution records and
// hands them to where the deployment keeps them.
//
// Records are versioned by the event's Seq, so a store can apply them in
// any order and any number of times (see package repo). Each storage mode
// has its own way of writing a run's records, a Records value that cmd
// chooses once and the api asks for each run's Recorder:
//
//   - Memory (memory mode): the run's events are kept and handed to the
//     in-memory store lazily; records are built only when somebody reads
//     them.
//   - Sync (sync mode): writes are pipelined: while one batch is being
//     written, the records of later events accumulate into the next one, so
//     a slow store never adds a round trip per node to the run, and at most
//     one write per run is in flight. On workflow_finished the recorder
//     waits until every record of the run is written before it returns, so
//     a listener after it (the HTTP response) only sees the end of the run
//     once it is durable.
//   - Async (async mode): writes happen on the engine's goroutine, since
//     the writer only enqueues, and are coalesced: running versions that a
//     later record supersedes are not written. A mirror can also keep the
//     run's records lazily, for read-your-writes.
package record
