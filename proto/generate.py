#!/usr/bin/env python3
"""Generate python/fingerprint/v1/ from proto/fingerprint/v1/*.proto with grpcio-tools.

Run from anywhere: `python proto/generate.py` rewrites the checked-in stubs;
`python proto/generate.py --out DIR` writes DIR/fingerprint/v1/ instead (the drift test does).
The output is never edited by hand: change the .proto files and run this script.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import List

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = Path("fingerprint") / "v1"
DEFAULT_OUT = PROTO_ROOT.parent / "python"

INIT = '''"""Generated protobuf and gRPC code for package fingerprint.v1 (by proto/generate.py; do not edit)."""
'''


def proto_files() -> List[Path]:
    """The .proto files of fingerprint.v1, relative to the proto root, sorted."""
    return sorted(p.relative_to(PROTO_ROOT) for p in (PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))


def generate(out_root: Path) -> Path:
    """Write the stubs under `out_root/fingerprint/v1/` (replacing what was there); return that dir."""
    from grpc_tools import protoc  # imported here so `--help` works without grpcio-tools

    import grpc_tools

    target = out_root / PACKAGE_DIR
    files = proto_files()
    if not files:
        raise SystemExit(f"no .proto files under {PROTO_ROOT / PACKAGE_DIR}")
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"--proto_path={PROTO_ROOT}",
            f"--proto_path={Path(grpc_tools.__file__).parent / '_proto'}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *[str(f) for f in files],
        ]
        rc = protoc.main(args)
        if rc != 0:
            raise SystemExit(f"protoc failed with exit code {rc}")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(Path(tmp) / PACKAGE_DIR, target)
    (target / "__init__.py").write_text(INIT)
    return target


def main(argv: List[str]) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="root of the output package tree")
    args = parser.parse_args(argv)
    target = generate(args.out)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
