"""The machine a run trains on, as MLflow tags, from /proc/cpuinfo-like text."""

from __future__ import annotations

import torch

from eurosat_kedro.training.host import cpu_flags, host_tags

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile
"""
ARM = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes sve sve2 bf16 i8mm
CPU implementer\t: 0x41
"""


def test_x86_tags_name_the_cpu_its_relevant_flags_torch_and_threads():
    tags = host_tags("cpu", 2, X86)
    assert tags == {
        "host.cpu": "Intel(R) Xeon(R) Platinum 8480+",
        "host.cpu_flags": "avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 amx_tile amx_bf16",
        "host.torch": str(torch.__version__),
        "host.threads": "2",
        "host.device": "cpu",
    }


def test_arm_flags_come_from_features_and_a_missing_model_name_still_names_something():
    tags = host_tags("cuda (NVIDIA H200)", 8, ARM)
    assert tags["host.cpu_flags"] == "asimd sve sve2 bf16 i8mm"
    assert tags["host.cpu"] and tags["host.device"] == "cuda (NVIDIA H200)"


def test_no_cpuinfo_gives_no_flags():
    assert cpu_flags("") == set()
    assert host_tags("mps", 4, "")["host.cpu_flags"] == ""
