# Latchkey developer commands. CI calls these targets as they are (.ci/run).
#
# cargo honours CARGO_TARGET_DIR from the environment; nothing here overrides it, so a shared warm
# target directory (e.g. `export CARGO_TARGET_DIR=/work/target`) is used when set.

CARGO ?= cargo
DOCKER ?= docker
IMAGE ?= latchkey:dev
# Every benchmark `make bench` runs, in order; add new `[[bench]]` targets here (any workspace crate:
# names are unique across the workspace).
BENCHES ?= verify http_load delivery audit vault

.PHONY: help run test peers lint fmt bench image schemathesis

help:
	@echo "make run    - latchkey dev: every service in one process (SQLite, in-process bus)"
	@echo "make test   - the whole test suite (starts PostgreSQL and NATS JetStream first: .ci/peers)"
	@echo "make lint   - rustfmt check and clippy with warnings denied"
	@echo "make fmt    - format the workspace"
	@echo "make bench  - benchmarks: $(BENCHES)"
	@echo "make schemathesis - every API operation fuzzed from /openapi.json against a fresh latchkey dev"
	@echo "make image  - build the $(IMAGE) container image from deploy/Dockerfile"

run:
	$(CARGO) run --release -- dev

# --no-fail-fast: one failing test binary must not hide the results of the others.
test: peers
	$(CARGO) test --workspace --lib --bins --tests --no-fail-fast

# PostgreSQL and NATS with JetStream, started (or installed) when missing.
peers:
	@bash .ci/peers

# schemathesis against `latchkey dev` (debug build, as `make test` leaves it): docs/api-testing.md.
schemathesis:
	@bash .ci/schemathesis

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	@set -e; for bench in $(BENCHES); do \
		echo "==> cargo bench --bench $$bench"; \
		$(CARGO) bench --workspace --bench $$bench; \
	done

image:
	$(DOCKER) build --file deploy/Dockerfile --tag $(IMAGE) .
