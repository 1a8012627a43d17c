#!/usr/bin/env bash
# scripts/setup.sh — one-time, per-machine set-up for building and testing sieve.
#
# What it does (every step is idempotent; a second run takes well under a second):
#   1. Creates ONE Python virtual environment per machine, in a versioned cache
#      directory shared by every clone and CI run:
#        ${SIEVE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/sieve}/torch-2.11.0
#      and pip-installs torch 2.11.0 (its libtorch is what tch 0.24.0 links against)
#      plus the packages the tests use side by side (numpy, pyarrow, pandas,
#      transformers, safetensors). A marker file, written only after pip succeeded,
#      makes later runs skip pip entirely; a flock serialises concurrent set-ups.
#   2. Writes .cargo/config.toml in the repository (gitignored, machine-specific) so
#      that plain `cargo build/test/run` find libtorch with no exports:
#        LIBTORCH, LIBTORCH_CXX11_ABI (read by torch-sys's build script),
#        SIEVE_PYTHON (the venv's python, used by tests for side-by-side checks).
#   3. Installs cargo-nextest if it is missing (`make test` falls back to
#      `cargo test` if that fails, e.g. offline).
#
# Everything it reports goes to stderr. Environment knobs:
#   SIEVE_HOME            cache root (default ~/.cache/sieve)
#   SIEVE_SETUP_PYTHON    interpreter used to create the venv (default python3)
#   SIEVE_SKIP_NEXTEST=1  do not try to install cargo-nextest
set -euo pipefail

TORCH_VERSION=2.11.0
# Bump MARKER_NAME (or edit PACKAGES) to force every machine to rerun pip once.
PACKAGES=("torch==${TORCH_VERSION}" numpy pyarrow pandas transformers safetensors)
MARKER_NAME=.complete-v1

SIEVE_HOME="${SIEVE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/sieve}"
VENV="$SIEVE_HOME/torch-$TORCH_VERSION"
VPY="$VENV/bin/python"
MARKER="$VENV/$MARKER_NAME"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'setup: %s\n' "$*" >&2; }
die() {
  printf 'setup: error: %s\n' "$*" >&2
  exit 1
}

marker_text() { printf '%s\n' "${PACKAGES[@]}"; }

venv_complete() {
  [[ -x "$VPY" && -f "$MARKER" ]] && [[ "$(cat "$MARKER")" == "$(marker_text)" ]]
}

install_venv() {
  local base_py="${SIEVE_SETUP_PYTHON:-python3}"
  if [[ ! -x "$VPY" ]] || ! "$VPY" -c 'import sys' >/dev/null 2>&1; then
    command -v "$base_py" >/dev/null 2>&1 ||
      die "no '$base_py' on PATH; install Python 3.10+ (with the venv module) or set SIEVE_SETUP_PYTHON"
    "$base_py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
      die "$base_py is $("$base_py" --version 2>&1); torch $TORCH_VERSION needs Python 3.10+"
    log "creating virtual environment $VENV (once per machine)"
    "$base_py" -m venv "$VENV" >&2 ||
      die "'$base_py -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
  fi
  if ! "$VPY" -m pip --version >/dev/null 2>&1; then
    log "bootstrapping pip in $VENV"
    "$VPY" -m ensurepip --upgrade >&2
  fi
  log "pip install ${PACKAGES[*]} into $VENV (first time: downloads a few GB, several minutes)"
  local pip_args=(install --disable-pip-version-check)
  [[ -t 2 ]] || pip_args+=(--progress-bar off)
  "$VPY" -m pip "${pip_args[@]}" "${PACKAGES[@]}" >&2 ||
    die "pip install failed; rerun scripts/setup.sh to retry (nothing was marked complete)"
  # Sanity check before declaring success: the wheel must be the one tch 0.24 expects.
  local got
  got="$("$VPY" -c 'import torch; print(torch.__version__.split("+")[0])')" ||
    die "torch does not import in $VENV"
  [[ "$got" == "$TORCH_VERSION" ]] || die "expected torch $TORCH_VERSION in $VENV, found $got"
  marker_text >"$MARKER.tmp"
  mv -f "$MARKER.tmp" "$MARKER"
  log "virtual environment ready (marker $MARKER)"
}

# ---------------------------------------------------------------- 1. the venv
if venv_complete; then
  log "virtual environment $VENV is complete; skipping pip"
else
  mkdir -p "$SIEVE_HOME"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$SIEVE_HOME/.setup.lock"
    if ! flock -n 9; then
      log "another set-up holds $SIEVE_HOME/.setup.lock; waiting for it"
      flock 9
    fi
  else
    log "warning: flock not found; not guarding against a concurrent set-up"
  fi
  # Re-check under the lock: a concurrent set-up may have just finished.
  if venv_complete; then
    log "virtual environment $VENV was completed by another set-up"
  else
    install_venv
  fi
  if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
fi

# ----------------------------------------------------- 2. .cargo/config.toml
# find_spec locates the package without importing torch (which takes seconds).
TORCH_DIR="$("$VPY" -c 'import importlib.util as u; print(u.find_spec("torch").submodule_search_locations[0])')" ||
  die "cannot locate the torch package in $VENV; delete $MARKER and rerun"
[[ -f "$TORCH_DIR/lib/libtorch_cpu.so" ]] ||
  die "$TORCH_DIR/lib/libtorch_cpu.so is missing; delete $MARKER and rerun"

toml_str() { # a TOML basic string
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}
CONFIG="$REPO/.cargo/config.toml"
NEW_CONFIG="$(
  cat <<EOF
# Generated by scripts/setup.sh for this machine; not committed. Rerun the script
# instead of editing: it rewrites this file whenever the values below change.
[env]
LIBTORCH = $(toml_str "$TORCH_DIR")
LIBTORCH_CXX11_ABI = "1"
SIEVE_PYTHON = $(toml_str "$VPY")
EOF
)"
if [[ -f "$CONFIG" && "$(cat "$CONFIG")" == "$NEW_CONFIG" ]]; then
  log "$CONFIG is up to date (LIBTORCH=$TORCH_DIR)"
else
  mkdir -p "$REPO/.cargo"
  printf '%s\n' "$NEW_CONFIG" >"$CONFIG.tmp"
  mv -f "$CONFIG.tmp" "$CONFIG"
  log "wrote $CONFIG (LIBTORCH=$TORCH_DIR, SIEVE_PYTHON=$VPY)"
fi

# ------------------------------------------------------------ 3. cargo-nextest
if cargo nextest --version >/dev/null 2>&1; then
  log "cargo-nextest present"
elif [[ "${SIEVE_SKIP_NEXTEST:-0}" == 1 ]]; then
  log "cargo-nextest missing; SIEVE_SKIP_NEXTEST=1, not installing (make test uses cargo test)"
else
  log "installing cargo-nextest (cargo install --locked cargo-nextest)"
  if command -v cargo-binstall >/dev/null 2>&1; then
    cargo binstall --no-confirm cargo-nextest >&2 || true
  fi
  if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install --locked cargo-nextest >&2 ||
      log "warning: could not install cargo-nextest; make test falls back to cargo test"
  fi
fi

log "done"
