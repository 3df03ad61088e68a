# Common commands; `make help` lists them. Everything here is a thin
# wrapper: the logic lives in scripts/ and cmd/.
.DEFAULT_GOAL := help
GO ?= go
# Extra flags for cmd/bench, e.g. BENCH_FLAGS='-modes memory -note "…"'.
BENCH_FLAGS ?=
# Extra flags for cmd/bench-records, e.g. BENCH_RECORDS_FLAGS='-nodes 1000000'.
BENCH_RECORDS_FLAGS ?=

.PHONY: help test run bench bench-smoke bench-records chaos chaos-ci

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

test: ## run the whole test suite (starts PostgreSQL and Redis): scripts/test.sh
	./scripts/test.sh

run: ## serve the example apps in memory mode on 127.0.0.1:5001
	$(GO) run ./cmd/api

bench: ## full benchmark, about 9 min on 2 cores: writes docs/benchmarks.md, .json and -latency.svg
	$(GO) run ./cmd/bench -profile full -out docs $(BENCH_FLAGS)

bench-smoke: ## every benchmark figure with tiny counts (about a minute), written to bench-out/
	$(GO) run ./cmd/bench -profile smoke -out bench-out $(BENCH_FLAGS)

bench-records: ## record tables at 10M node executions (DATABASE_URL of a throwaway database; ~5 GB, ~10 min): query p95s, drop vs DELETE
	$(GO) run ./cmd/bench-records $(BENCH_RECORDS_FLAGS)

chaos: ## fault-injection suite at full scale (several minutes; own PostgreSQL and Redis): prints the figures table
	$(GO) run ./cmd/chaos -scale full

chaos-ci: ## the fault-injection suite at CI scale (what internal/chaos/slowtest runs under go test)
	$(GO) run ./cmd/chaos -scale ci
