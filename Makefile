# flowrun make targets. The test suite itself is scripts/test.sh.

.PHONY: chaos chaos-ci

# The fault-injection suite at full scale (several minutes): real api and
# persister binaries, a PostgreSQL and a Redis of its own; prints the
# figures table (docs/reliability.md). Needs PostgreSQL and Redis installed.
chaos:
	go run ./cmd/chaos -scale full

# The same at CI scale (what internal/chaos/slowtest runs under go test).
chaos-ci:
	go run ./cmd/chaos -scale ci
