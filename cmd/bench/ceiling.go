package main

import (
	"cmp"
	"context"
	"os"
	"strconv"
	"time"
)

// ceilingWindow measures ceiling (a) at clients for window (after the
// warm-up), starting its server on first use: a bare net/http handler in
// its own process (this binary, re-executed) answering a JSON body of a
// chain3 response's size. Memory mode's chain3 blocking cells are
// bracketed by two half windows each, so that the ratio compares
// measurements seconds apart, not minutes (see runMode).
func (b *bench) ceilingWindow(ctx context.Context, clients int, window time.Duration) error {
	if b.ceil == nil {
		size := b.rep.Ceilings.BodyBytes
		if size == 0 {
			size = 400
			b.rep.Ceilings.BodyBytes = size
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		p, err := startProcess(ctx, "ceiling", exe, nil, []string{roleEnv + "=" + roleCeiling, bodyBytesEnv + "=" + strconv.Itoa(size)}, b.work, logLine(listeningAddr))
		if err != nil {
			return err
		}
		b.ceil = &ceiling{p: p, parts: map[int][]*ceilingPart{}}
	}
	p := b.ceil.p
	t := target{url: "http://" + p.addr + "/v1/workflows/run", bodies: runTarget("", "chain3", false).bodies, bare: true}
	part := &ceilingPart{}
	var srvS, benchS cpuSnap
	part.res = closedLoop(ctx, b.client, t, clients, b.cfg.Warmup, window, func(start bool) {
		if start {
			srvS, benchS = snapCPU(p.pid()), snapCPU(os.Getpid())
			return
		}
		srvE, _ := procCPU(p.pid())
		benchE, _ := procCPU(os.Getpid())
		part.srvCPU, part.benchCPU = srvE-srvS.cpu, benchE-benchS.cpu
	})
	b.ceil.parts[clients] = append(b.ceil.parts[clients], part)
	return nil
}

// ceiling is ceiling (a)'s server and the windows measured against it.
type ceiling struct {
	p     *process
	parts map[int][]*ceilingPart // by clients
}

// ceilingPart is one measurement window against the ceiling server.
type ceilingPart struct {
	res              *closedLoopResult
	srvCPU, benchCPU time.Duration
}

// httpCeiling completes ceiling (a): it measures a whole window at every
// client count that memory mode did not bracket, reports each count's
// windows as one cell, and stops the server.
func (b *bench) httpCeiling(ctx context.Context) error {
	defer b.stopCeiling()
	for _, c := range b.cfg.Clients {
		if b.ceil != nil && len(b.ceil.parts[c]) > 0 {
			continue
		}
		if err := b.ceilingWindow(ctx, c, b.cfg.Window); err != nil {
			return err
		}
	}
	for _, c := range b.cfg.Clients {
		cell := Cell{Mode: "ceiling-http", Workflow: "bare handler", ResponseMode: "blocking", Clients: c}
		var lat []time.Duration
		var window, srvCPU, benchCPU time.Duration
		for _, part := range b.ceil.parts[c] {
			r := part.res
			cell.Runs += r.runs
			cell.Errors += r.errors
			cell.FirstError = cmp.Or(cell.FirstError, r.firstEr)
			lat = append(lat, r.lat...)
			window += r.window
			srvCPU += part.srvCPU
			benchCPU += part.benchCPU
		}
		cell.Windows = len(b.ceil.parts[c])
		cell.WindowS, cell.Latency = round3(window.Seconds()), percentiles(lat)
		if window > 0 && cell.Runs > 0 {
			cell.RunsPerS = round3(float64(cell.Runs) / window.Seconds())
			cell.APICPUus = ptr(round3(us(srvCPU) / float64(cell.Runs)))
			cell.BenchCPUus = ptr(round3(us(benchCPU) / float64(cell.Runs)))
		}
		b.log.Info("ceiling (a)", "clients", c, "windows", cell.Windows, "req_per_s", cell.RunsPerS, "p50_us", p50(cell.Latency))
		b.rep.Ceilings.HTTP = append(b.rep.Ceilings.HTTP, cell)
	}
	return nil
}

// stopCeiling stops ceiling (a)'s server, if it runs.
func (b *bench) stopCeiling() {
	if b.ceil == nil || b.ceil.p == nil {
		return
	}
	b.client.CloseIdleConnections()
	if err := b.ceil.p.stop(10 * time.Second); err != nil {
		b.log.Warn("stop ceiling server", "err", err)
	}
	b.ceil.p = nil
}
