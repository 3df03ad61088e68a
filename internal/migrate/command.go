package migrate

import (
	"context"
	"fmt"
	"io"
	"strconv"
)

// Usage describes the arguments Command accepts.
const Usage = `migrate [up | down [N|all] | status]
  up        apply every pending migration (the default)
  down N    revert the last N applied migrations (default 1; all: every one)
  status    list applied and pending migrations`

// Command runs a `migrate` subcommand with args (the words after
// "migrate"), reporting what it did to w. A binary's main wires it up, e.g.
// `flowrun migrate down 1`.
func Command(ctx context.Context, db DB, ms []Migration, args []string, w io.Writer) error {
	verb := "up"
	if len(args) > 0 {
		verb, args = args[0], args[1:]
	}
	switch {
	case verb == "up" && len(args) == 0:
		done, err := Up(ctx, db, ms)
		if err != nil {
			return err
		}
		if len(done) == 0 {
			fmt.Fprintln(w, "migrate: nothing to apply")
		}
		for _, v := range done {
			fmt.Fprintf(w, "migrate: applied %s\n", name(ms, v))
		}
		return nil
	case verb == "down" && len(args) <= 1:
		steps := 1
		if len(args) == 1 {
			if args[0] == "all" {
				steps = 0
			} else if n, err := strconv.Atoi(args[0]); err == nil && n > 0 {
				steps = n
			} else {
				return fmt.Errorf("migrate down: bad step count %q\nusage: %s", args[0], Usage)
			}
		}
		done, err := Down(ctx, db, ms, steps)
		if err != nil {
			return err
		}
		if len(done) == 0 {
			fmt.Fprintln(w, "migrate: nothing to revert")
		}
		for _, v := range done {
			fmt.Fprintf(w, "migrate: reverted %s\n", name(ms, v))
		}
		return nil
	case verb == "status" && len(args) == 0:
		applied, err := Applied(ctx, db)
		if err != nil {
			return err
		}
		is := make(map[int64]bool, len(applied))
		for _, v := range applied {
			is[v] = true
		}
		for _, m := range ms {
			state := "pending"
			if is[m.Version] {
				state = "applied"
			}
			fmt.Fprintf(w, "%s %s\n", state, name(ms, m.Version))
		}
		return nil
	}
	return fmt.Errorf("migrate: bad arguments %q\nusage: %s", append([]string{verb}, args...), Usage)
}

func name(ms []Migration, v int64) string {
	for _, m := range ms {
		if m.Version == v {
			return fmt.Sprintf("%03d_%s", m.Version, m.Name)
		}
	}
	return fmt.Sprintf("%03d", v)
}
