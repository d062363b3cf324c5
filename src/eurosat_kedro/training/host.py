"""What machine a run trains on, as MLflow run tags: identical figures hold only on the same
CPU type, instruction set, torch version and thread count, so a user comparing two runs can
tell why they differ."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

# the instruction-set extensions that change which kernels torch picks, hence the last digits
RELEVANT_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "asimd",  # ARM: NEON, SVE, bf16 and int8 matrix multiply
    "sve",
    "sve2",
    "bf16",
    "i8mm",
)


def read_cpuinfo() -> str:
    """/proc/cpuinfo, or "" where there is none (macOS, Windows)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _first(cpuinfo: str, *fields: str) -> str:
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in fields:
            return value.strip()
    return ""


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The first CPU's flags (x86 ``flags``, ARM ``Features``)."""
    return set(_first(read_cpuinfo() if cpuinfo is None else cpuinfo, "flags", "Features").split())


def host_tags(device: str, threads: int, cpuinfo: str | None = None) -> dict[str, str]:
    """The ``host.*`` tags of a training run: CPU model and its relevant instruction-set flags,
    torch version, torch CPU threads and the device trained on."""
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    model = _first(cpuinfo, "model name", "Model name", "Hardware") or platform.processor()
    present = cpu_flags(cpuinfo)
    return {
        "host.cpu": model or platform.machine() or "unknown",
        "host.cpu_flags": " ".join(flag for flag in RELEVANT_FLAGS if flag in present),
        "host.torch": str(torch.__version__),
        "host.threads": str(threads),
        "host.device": device,
    }


def device_name(device: torch.device) -> str:
    """``cpu``, ``mps``, or ``cuda`` with the GPU's name."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
