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
# A lint finding does not hide the test results: both run, either fails.
test: ## Run every test (starts MariaDB and Redis first), with the race detector, and make lint
	bash scripts/test-services.sh
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	echo "$(GO) test $(TEST_FLAGS) ./..."; $(GO) test $(TEST_FLAGS) ./... || status=1; \
	exit $$status

# BENCH_FLAGS, e.g. BENCH_FLAGS='-backends embedded,redisstream -duration 5s'
BENCH_FLAGS ?=
bench: build services ## Measure the performance figures beside their ceilings and targets (see docs/BENCHMARKS.md)
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

# gosec, the security checker, at a pinned version: go run fetches and builds
# it once into the module and build caches. A finding it makes where the code is
# right is marked at that line with `#nosec RULE -- why`. cmd/techradar-bench is
# left out: a measuring tool run by hand, not shipped, that by design starts the
# binary, reads and writes the files and calls the addresses its operator names.
GOSEC_VERSION ?= v2.30.0
GOSEC ?= $(GO) run github.com/securego/gosec/v2/cmd/gosec@$(GOSEC_VERSION)
# staticcheck, pinned and built the same way; a finding where the code is right
# is marked at its line with `//lint:ignore CHECK why`.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: ## Fail on unformatted Go files or findings of go vet, staticcheck or gosec
	@status=0; \
	unformatted=$$(gofmt -l .); \
	if [[ -n $$unformatted ]]; then echo "not gofmt-formatted (run make fmt):"; echo "$$unformatted"; status=1; fi; \
	echo "$(GO) vet ./..."; $(GO) vet ./... || status=1; \
	echo "staticcheck $(STATICCHECK_VERSION) ./..."; $(STATICCHECK) ./... || status=1; \
	echo "gosec $(GOSEC_VERSION) ./..."; $(GOSEC) -quiet -color=false -exclude-dir=cmd/techradar-bench ./... || status=1; \
	exit $$status

# The Go test loads the file as compose does and checks what techradar needs
# of it; docker compose config then checks it with compose itself. Only the
# client plugin is needed; no engine has to run.
compose-config: ## Check docker-compose.yml: the Go test of it, then docker compose config
	$(GO) test -count=1 -run '^TestComposeFile' ./config/
	@if ! docker compose version >/dev/null 2>&1; then \
		echo "docker compose is not installed, so docker-compose.yml was not checked by compose itself." >&2; \
		echo "Install the compose plugin (Debian: apt-get install docker-compose-plugin, from Docker's apt repository;" >&2; \
		echo "or see https://docs.docker.com/compose/install/linux/), then run make compose-config again." >&2; \
		exit 1; \
	fi
	docker compose config -q
	@echo "docker-compose.yml is valid"

clean: ## Remove build output
	rm -rf bin
