"""Pick the device and make runs reproducible."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; otherwise the named device, checked."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device is 'cuda' but no CUDA GPU is visible; use 'auto'")
    return device


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), so that CPU autocast
    to bf16 is faster than fp32 rather than emulated."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no way to tell cheaply, so no
        return False
    return torch.backends.mkldnn.is_available() and any(
        flag in flags.split() for flag in ("avx512_bf16", "amx_bf16")
    )


def autocast_dtype(device: torch.device, amp: bool, cpu_bf16: bool) -> torch.dtype | None:
    """The mixed-precision type on ``device``: fp16 on CUDA with ``training.amp``, bf16 on a
    CPU with native bf16 with ``training.cpu_bf16``, else None (fp32)."""
    if device.type == "cuda" and amp:
        return torch.float16
    if device.type == "cpu" and cpu_bf16 and cpu_has_bf16():
        return torch.bfloat16
    return None


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; turn on deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
