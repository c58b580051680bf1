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
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # independent numerical reference for tests (Debian's torch 1.13, used with /usr/bin/python3)
  python3 python3-torch python3-numpy
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it calls apt-get install)" >&2
  exit 2
fi

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
