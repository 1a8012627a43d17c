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
	@echo 'make gpu-binary  build target/release/sieve to carry to a GPU machine (see docs / GPU.md)'
	@echo 'make setup       only the per-machine set-up (scripts/setup.sh)'

setup:
	bash scripts/setup.sh

demo: setup
	$(CARGO) run --release -- run $(PIPELINE)

test: setup
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --no-fail-fast; \
	else \
	  echo 'make: cargo-nextest not found; using cargo test' >&2; \
	  $(CARGO) test --no-fail-fast; \
	fi

gpu-binary: setup
	$(CARGO) build --release
	readelf -d target/release/sieve | grep 'libtorch_cuda\.so' || \
	  { echo 'make: target/release/sieve does not link libtorch_cuda.so (see build.rs)' >&2; exit 1; }
	ls -l target/release/sieve
