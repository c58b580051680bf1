"""torch_peer.py - how the bench scripts run the PyTorch peer at its best on this machine (shared by
train_vs_torch.py and train_step_vs_torch.py).

Debian's torch 1.13 does fp32 matmuls through OpenBLAS. The environment pins OpenBLAS to AVX2
(OPENBLAS_CORETYPE=Haswell), and Debian's default OpenBLAS is the pthread build, whose threads fight
torch's libgomp pool on 2 cores. The peer command therefore runs with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE
unset and, when it has been unpacked, with OpenBLAS's OpenMP build first on LD_LIBRARY_PATH (the "obomp"
variant of /work/shared/peers/README.md; nothing is installed):
  mkdir -p /tmp/obomp && cd /tmp/obomp && apt-get download libopenblas0-openmp && dpkg -x libopenblas0-openmp_*.deb root
"""
import os
import sys

OBOMP_DEFAULT = "/tmp/obomp/root/usr/lib/x86_64-linux-gnu/openblas-openmp"


def torch_environment(openblas_openmp, base=None):
    """The torch command's environment: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (AVX-512 kernels), and
    OpenBLAS's OpenMP build first on LD_LIBRARY_PATH when `openblas_openmp` names it ("" = Debian's default
    pthread build). Returns (env, label)."""
    env = {k: v for k, v in (base or os.environ).items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    if openblas_openmp:
        if not os.path.isfile(os.path.join(openblas_openmp, "libopenblas.so.0")):
            sys.exit(f"--torch-openblas-openmp: no libopenblas.so.0 in {openblas_openmp}")
        env["LD_LIBRARY_PATH"] = openblas_openmp + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
        return env, "OpenBLAS OpenMP build (LD_LIBRARY_PATH)"
    return env, "OpenBLAS pthread build (Debian default)"
