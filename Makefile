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

.PHONY: help run test peers lint fmt bench image schemathesis k8s-validate fuzz fuzz-smoke fuzz-install fuzz-build screenshots faults

help:
	@echo "make run    - latchkey dev: every service in one process (SQLite, in-process bus)"
	@echo "make test   - the whole test suite (starts PostgreSQL and NATS JetStream first: .ci/peers)"
	@echo "make lint   - rustfmt check and clippy with warnings denied"
	@echo "make fmt    - format the workspace"
	@echo "make bench  - benchmarks: $(BENCHES)"
	@echo "make screenshots - the console's browser tests, writing docs/console/*.png"
	@echo "make faults - the kill suite: every fault scenario on a mesh of processes (docs/operations.md)"
	@echo "make schemathesis - every API operation fuzzed from /openapi.json against a fresh latchkey dev"
	@echo "make image  - build the $(IMAGE) container image from deploy/Dockerfile"
	@echo "make k8s-validate - render every deploy/k8s overlay and validate it against the Kubernetes schemas"
	@echo "make fuzz   - every fuzz target for FUZZ_SECONDS ($(FUZZ_SECONDS)) each; make fuzz-smoke: $(FUZZ_SMOKE_SECONDS) s each"

run:
	$(CARGO) run --release -- dev

# --no-fail-fast: one failing test binary must not hide the results of the others.
test: peers
	$(CARGO) test --workspace --lib --bins --tests --no-fail-fast

# The console's browser tests, writing their PNGs to docs/console/ (README shows two).
screenshots: peers
	LATCHKEY_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console $(CARGO) test --test it -- console:: --test-threads 2

# The kill suite (docs/operations.md): every fault scenario on a mesh of separate processes, ending
# with its summary line. `make test` runs its fast slice (one kill, one restart).
faults: peers
	LATCHKEY_FAULTS=full $(CARGO) test --test it -- faults:: --nocapture --test-threads 1

# PostgreSQL and NATS with JetStream, started (or installed) when missing.
peers:
	@bash .ci/peers

# schemathesis against `latchkey dev` (debug build, as `make test` leaves it): docs/api-testing.md.
schemathesis:
	@bash .ci/schemathesis

# The Kubernetes manifests (deploy/k8s): every overlay rendered by kubectl's kustomize and validated
# against the Kubernetes API schemas (kubernetes-validate, pinned, installed on first use).
k8s-validate:
	@bash .ci/k8s

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

# Fuzzing (docs/fuzzing.md): cargo-fuzz on the nightly toolchain. fuzz/ is a workspace of its own and
# builds into FUZZ_TARGET_DIR (CI points it outside the clone so a rerun starts warm). Coverage
# instrumentation without a sanitizer: our crates forbid unsafe code, and a panic is what we hunt.
FUZZ_TARGETS ?= token_verify policy_eval event_envelope audit_export webhook_signature scope_relations
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_SANITIZER ?= none
FUZZ_TARGET_DIR ?= fuzz/target
CARGO_FUZZ_VERSION ?= 0.13.2
FUZZ := $(CARGO) +nightly fuzz
FUZZ_FLAGS = --sanitizer $(FUZZ_SANITIZER) --target-dir $(FUZZ_TARGET_DIR)

fuzz: fuzz-build
	@$(MAKE) --no-print-directory fuzz-run FUZZ_RUN_SECONDS=$(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	@$(MAKE) --no-print-directory fuzz-run FUZZ_RUN_SECONDS=$(FUZZ_SMOKE_SECONDS)

# cargo-fuzz, pinned, installed when missing (a cold CI machine has none); built in a throwaway
# target directory rather than the shared one.
fuzz-install:
	@$(FUZZ) --version 2>/dev/null | grep -qx 'cargo-fuzz $(CARGO_FUZZ_VERSION)' || \
		env -u CARGO_TARGET_DIR $(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked

fuzz-build: fuzz-install
	$(FUZZ) build $(FUZZ_FLAGS)

# Each target grows its corpus in fuzz/work/ (gitignored), reading the committed seeds in
# fuzz/corpus/ as well, with fuzz/dicts/<target>.dict when there is one; a crash leaves its input in
# fuzz/artifacts/<target>/ and fails the run.
fuzz-run:
	@set -e; for target in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/work/$$target fuzz/artifacts/$$target; \
		dict=""; if [ -f fuzz/dicts/$$target.dict ]; then dict="-dict=fuzz/dicts/$$target.dict"; fi; \
		echo "==> fuzz $$target ($(FUZZ_RUN_SECONDS) s)"; \
		$(FUZZ) run $(FUZZ_FLAGS) $$target fuzz/work/$$target fuzz/corpus/$$target -- \
			-max_total_time=$(FUZZ_RUN_SECONDS) -timeout=10 -print_final_stats=1 $$dict; \
	done
