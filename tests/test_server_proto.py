"""The checked-in stubs in python/fingerprint/v1/ are exactly what proto/generate.py makes,
and the protos follow buf's STANDARD naming rules."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from google.protobuf import descriptor

ROOT = Path(__file__).resolve().parent.parent
CHECKED_IN = ROOT / "python" / "fingerprint" / "v1"


def _generator():
    spec = importlib.util.spec_from_file_location("fingerprint_proto_generate", ROOT / "proto" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    fresh = _generator().generate(tmp_path)
    want = {p.name: p.read_bytes() for p in fresh.iterdir() if p.is_file()}
    have = {p.name: p.read_bytes() for p in CHECKED_IN.iterdir() if p.is_file()}
    assert sorted(have) == sorted(want), "files differ: run `python proto/generate.py`"
    stale = [name for name in want if want[name] != have[name]]
    assert not stale, f"{stale} differ from the .proto files: run `python proto/generate.py`"


def _files():
    from fingerprint.v1 import (
        collection_service_pb2,
        common_pb2,
        hash_service_pb2,
        ingest_service_pb2,
        match_service_pb2,
    )

    return [m.DESCRIPTOR for m in (common_pb2, collection_service_pb2, hash_service_pb2,
                                   ingest_service_pb2, match_service_pb2)]


@pytest.mark.parametrize("fd", _files(), ids=lambda fd: fd.name)
def test_buf_standard_naming(fd: descriptor.FileDescriptor) -> None:
    assert fd.package == "fingerprint.v1" and fd.name.startswith("fingerprint/v1/")
    seen_messages = set()
    for service in fd.services_by_name.values():
        assert service.name.endswith("Service")
        for method in service.methods:
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", method.name)
            assert method.input_type.name == f"{method.name}Request", method.full_name
            assert method.output_type.name == f"{method.name}Response", method.full_name
            seen_messages |= {method.input_type.full_name, method.output_type.full_name}
    for enum in fd.enum_types_by_name.values():
        prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
        assert enum.values_by_number[0].name == prefix + "UNSPECIFIED"
        assert all(v.name.startswith(prefix) for v in enum.values)
    for message in fd.message_types_by_name.values():
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", message.name)
        for f in message.fields:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", f.name), f.full_name
