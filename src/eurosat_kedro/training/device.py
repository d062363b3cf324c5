"""The machine side of a run: pick the device, the precision and the memory layout, and make
runs reproducible."""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from eurosat_kedro.preprocessing import normalize

from .config import RuntimeConfig
from .host import cpu_flags


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
        raise RuntimeError("runtime.device is 'cuda' but no CUDA GPU is visible; use 'auto'")
    return device


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), so that CPU autocast
    to bf16 is faster than fp32 rather than emulated."""
    return torch.backends.mkldnn.is_available() and bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def autocast_dtype(device: torch.device, amp: bool, cpu_bf16: bool) -> torch.dtype | None:
    """The mixed-precision type on ``device``: fp16 on CUDA with ``runtime.amp``, bf16 on a
    CPU with native bf16 with ``runtime.cpu_bf16``, else None (fp32)."""
    if device.type == "cuda" and amp:
        return torch.float16
    if device.type == "cpu" and cpu_bf16 and cpu_has_bf16():
        return torch.bfloat16
    return None


@dataclass(frozen=True)
class Placement:
    """Where and in what precision a run computes: the device, the autocast type (None: fp32)
    and the memory layout of its batches."""

    device: torch.device
    amp_dtype: torch.dtype | None = None
    memory_format: torch.memory_format = torch.contiguous_format

    @classmethod
    def for_runtime(cls, runtime: RuntimeConfig) -> Placement:
        """Set torch's CPU threads and pick the device, precision and layout ``runtime`` asks
        for and this machine has. channels_last pays off on CUDA and under CPU bf16 only."""
        if runtime.num_threads:
            torch.set_num_threads(runtime.num_threads)
        device = pick_device(runtime.device)
        amp_dtype = autocast_dtype(device, runtime.amp, runtime.cpu_bf16)
        nhwc = runtime.channels_last and (device.type == "cuda" or amp_dtype == torch.bfloat16)
        return cls(device, amp_dtype, torch.channels_last if nhwc else torch.contiguous_format)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for a forward pass (a no-op in fp32)."""
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
        )

    def tensors(self, arrays: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """A split's ``images`` (uint8 NHWC) normalised and its ``labels``, on the device."""
        images = torch.from_numpy(normalize(arrays["images"])).to(self.device)
        labels = np.asarray(arrays["labels"], dtype=np.int64)
        return images, torch.from_numpy(labels).to(self.device)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch; turn on deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
