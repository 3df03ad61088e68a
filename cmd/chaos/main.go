// Command chaos runs the fault-injection suite (internal/chaos) against
// the real api and persister binaries, a PostgreSQL and a Redis of its
// own, and prints what the clients were told against what PostgreSQL
// holds. `make chaos` runs it at full scale; see docs/reliability.md.
//
//	chaos [-scale full|ci] [-run REGEXP] [-dir DIR] [-keep]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/flowrun/flowrun/internal/chaos"
)

func main() {
	scale := flag.String("scale", "full", "full (minutes, PostgreSQL down 30 s, default lease windows) or ci")
	run := flag.String("run", "", "run only the scenarios whose name matches this regexp")
	dir := flag.String("dir", "", "parent directory of the work directory (default: /tmp; it must be reachable by the postgres user)")
	keep := flag.Bool("keep", false, "keep the work directory (logs) even when every scenario passes")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := mainErr(ctx, *scale, *run, *dir, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

func mainErr(ctx context.Context, scaleName, run, parent string, keep bool) error {
	var scale chaos.Scale
	switch scaleName {
	case "full":
		scale = chaos.FullScale
	case "ci":
		scale = chaos.CIScale
	default:
		return fmt.Errorf("-scale %q: want full or ci", scaleName)
	}
	match, err := regexp.Compile(run)
	if err != nil {
		return err
	}
	root, err := chaos.ModuleRoot()
	if err != nil {
		return err
	}
	if parent == "" {
		parent = "/tmp"
	}
	work, err := os.MkdirTemp(parent, "flowrun-chaos-")
	if err != nil {
		return err
	}
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
	logf("building into %s", work)
	api, persister, err := chaos.Build(ctx, root, work)
	if err != nil {
		return err
	}
	h := &chaos.Harness{Bin: chaos.Binaries{API: api, Persister: persister, Root: root}, Dir: work, Scale: scale, Logf: logf}
	start := time.Now()
	var results []*chaos.Result
	ok := true
	for _, s := range chaos.Scenarios {
		if !match.MatchString(s.Name) {
			continue
		}
		logf("%s: start", s.Name)
		r := h.Run(ctx, s)
		results = append(results, r)
		ok = ok && r.OK()
		logf("%s: done in %s, ok=%v (logs in %s)", s.Name, r.Elapsed.Round(time.Millisecond), r.OK(), r.Dir)
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Printf("\nflowrun chaos, %s scale, %d scenarios in %s\n\n%s", scale.Name, len(results), time.Since(start).Round(time.Second), chaos.Table(scale, results))
	if !ok {
		return fmt.Errorf("some scenarios failed; logs kept in %s", work)
	}
	if keep {
		logf("logs kept in %s", work)
		return nil
	}
	return os.RemoveAll(work)
}
