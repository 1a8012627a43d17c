# The two commands the README promises, plus helpers. Every target runs the
# idempotent per-machine set-up first (a no-op after the first run on a machine).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

CARGO ?= cargo
PIPELINE ?= pipelines/difficulty_budget.sieve

.PHONY: help setup demo test gpu-binary

help:
	@echo 'make demo        set up (first run: torch 2.11.0 into ~/.cache/sieve), run $(PIPELINE)'
	@echo 'make test        set up, then run the whole test suite (cargo nextest, else cargo test)'
	@echo 'make gpu-binary  build target/release/sieve and sieve-torch to carry to a GPU machine (docs/gpu.md)'
	@echo 'make setup       only the per-machine set-up (scripts/setup.sh)'

setup:
	bash scripts/setup.sh

# `cargo run` would build only `sieve`; the run also needs `sieve-torch` (the torch/
# crate) beside it.
demo: setup
	$(CARGO) build --release --workspace --bins
	target/release/sieve run $(PIPELINE)

test: setup
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  echo 'make: cargo-nextest not found; using cargo test' >&2; \
	  $(CARGO) test --workspace --no-fail-fast; \
	fi

gpu-binary: setup
	$(CARGO) build --release --workspace --bins
	readelf -d target/release/sieve-torch | grep 'libtorch_cuda\.so' || \
	  { echo 'make: target/release/sieve-torch does not link libtorch_cuda.so (see torch/build.rs)' >&2; exit 1; }
	! readelf -d target/release/sieve | grep 'NEEDED.*libtorch' || \
	  { echo 'make: target/release/sieve links libtorch: the engine crate must not depend on tch (see docs/architecture.md)' >&2; exit 1; }
	ls -l target/release/sieve target/release/sieve-torch
