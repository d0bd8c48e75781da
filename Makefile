# techradar tasks. `make test` is the one command that runs every test.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO    ?= go
BIN   ?= bin/techradar
# Extra arguments for `make run`, e.g. make run ARGS=--help
ARGS  ?=
TEST_FLAGS ?= -race -count=1 -timeout 30m

.PHONY: help run build test test-short services vet fmt lint compose-config clean bench soak

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

# Built, then run as make's own child: `go run` exits 1 when Ctrl-C stops the
# program it runs, even though the program stops cleanly and exits 0, and make
# would report that as an error.
run: build ## Run the embedded mode: API and workers in one process, SQLite, no services
	exec $(BIN) $(ARGS)

build: ## Build a static binary into bin/techradar
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/techradar

services: ## Make sure the test MariaDB and Redis answer (installs and starts them if needed)
	bash scripts/test-services.sh

# Every test: unit, contract suites against SQLite, MariaDB, Redis and every
# transport (Kafka in-process), and component tests of the real application.
# A vet finding does not hide the test results: both run, either fails.
test: ## Run every test (starts MariaDB and Redis first), with the race detector
	bash scripts/test-services.sh
	@status=0; \
	echo "$(GO) vet ./..."; $(GO) vet ./... || status=1; \
	echo "$(GO) test $(TEST_FLAGS) ./..."; $(GO) test $(TEST_FLAGS) ./... || status=1; \
	exit $$status

# BENCH_FLAGS, e.g. BENCH_FLAGS='-backends embedded,redisstream -duration 5s'
BENCH_FLAGS ?=
bench: build services ## Measure the SPEC's performance figures beside their ceilings (see docs/BENCHMARKS.md)
	$(GO) run ./cmd/techradar-bench -binary $(BIN) $(BENCH_FLAGS)

# SOAK_MINUTES per durable backend; SOAK_FLAGS, e.g. SOAK_FLAGS='-backends sql -soak-rate 200'
SOAK_MINUTES ?= 10
SOAK_FLAGS ?=
soak: build services ## A steady 500 commands/s for SOAK_MINUTES on each durable backend: every store must stay flat (not part of make test)
	$(GO) run ./cmd/techradar-bench -binary $(BIN) -soak $(SOAK_MINUTES)m $(SOAK_FLAGS)

test-short: ## Quicker run: no race detector, -short; tests whose services are down are skipped
	$(GO) test -short -count=1 ./...

vet: ## go vet
	$(GO) vet ./...

fmt: ## Format the Go code
	$(GO) fmt ./...

lint: ## Fail on unformatted Go files, then go vet
	@unformatted=$$(gofmt -l .); \
	if [[ -n $$unformatted ]]; then echo "not gofmt-formatted (run make fmt):"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Only the client plugin is needed to check the file; no engine has to run.
compose-config: ## Check docker-compose.yml with docker compose config
	@if docker compose version >/dev/null 2>&1; then \
		docker compose config -q && echo "docker-compose.yml is valid"; \
	else \
		echo "docker compose is not installed; docker-compose.yml not checked" >&2; \
	fi

clean: ## Remove build output
	rm -rf bin
