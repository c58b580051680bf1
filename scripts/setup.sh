#!/usr/bin/env bash
# Installs every Debian package anvil's build, tests and benchmarks need. Idempotent; run as root.
#   sudo bash scripts/setup.sh
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # kernels: oneDNN for GEMM (chosen by measurement, see docs/kernels/gemm.md), OpenMP comes with g++
  libdnnl-dev
  # well-kept libraries for what is not our core
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libzstd-dev libutf8proc-dev libxxhash-dev
  # serve: HTTP (cpp-httplib), gRPC + protobuf (C++ and codegen); promtool checks /metrics in a test
  libcpp-httplib-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc prometheus
  # tests and benchmarks (libcurl: bench/serve_load.cpp, the serving benchmark's client)
  libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev
  # tokenizer: real text for interop tests (fortunes en/de/zh); sentencepiece + time for bench/tokenizer
  fortunes fortunes-de fortunes-zh sentencepiece time
  # independent numerical reference for tests (Debian's torch 1.13, used with /usr/bin/python3)
  python3 python3-torch python3-numpy
  # the PyTorch peer of bench/train_step_vs_torch.py: OpenBLAS (AVX-512) instead of netlib reference BLAS
  libopenblas0-pthread
  chromium  # report: the e2e test renders report.html in headless Chromium (tests/report)
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it calls apt-get install)" >&2
  exit 2
fi

# Node.js + npm run the interop tests' clients (installed by scripts/npm_test_deps.sh into tests/node/).
# A machine that already has them (e.g. from NodeSource) keeps its own: Debian's npm would conflict.
if ! command -v npm > /dev/null 2>&1; then packages+=(nodejs npm); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all ${#packages[@]} packages present"
  exit 0
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
