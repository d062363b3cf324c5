"""Build data/sample/EuroSAT_RGB_sample.zip: N real images per class from a EuroSAT RGB zip.

    python scripts/make_sample.py ../shared/data/EuroSAT_RGB.zip --per-class 30

The images are copied byte for byte (no re-encoding) in the official layout
EuroSAT_RGB/<Class>/<Class>_<N>.jpg, picked with a fixed seed, so the sample is reproducible.
"""

from __future__ import annotations

import argparse
import random
import zipfile
from collections import defaultdict
from pathlib import Path

FIXED_TIME = (2019, 1, 1, 0, 0, 0)  # same bytes on every rebuild


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--per-class", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("data/sample/EuroSAT_RGB_sample.zip"))
    args = parser.parse_args()
    by_class = defaultdict(list)
    with zipfile.ZipFile(args.source) as src:
        for name in sorted(src.namelist()):
            parts = name.split("/")
            if len(parts) == 3 and parts[2].lower().endswith(".jpg"):
                by_class[parts[1]].append(name)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(args.seed)
        with zipfile.ZipFile(args.out, "w", zipfile.ZIP_STORED) as out:
            for cls in sorted(by_class):
                for name in sorted(rng.sample(by_class[cls], args.per_class)):
                    out.writestr(zipfile.ZipInfo(name, FIXED_TIME), src.read(name))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
