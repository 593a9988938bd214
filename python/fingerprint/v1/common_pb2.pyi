from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Algorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALGORITHM_UNSPECIFIED: _ClassVar[Algorithm]
    ALGORITHM_PDQ: _ClassVar[Algorithm]
    ALGORITHM_PHASH: _ClassVar[Algorithm]
    ALGORITHM_DHASH: _ClassVar[Algorithm]
    ALGORITHM_AHASH: _ClassVar[Algorithm]
    ALGORITHM_WHASH: _ClassVar[Algorithm]
    ALGORITHM_AUDIO_SIMHASH: _ClassVar[Algorithm]

class ConflictPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFLICT_POLICY_UNSPECIFIED: _ClassVar[ConflictPolicy]
    CONFLICT_POLICY_ERROR: _ClassVar[ConflictPolicy]
    CONFLICT_POLICY_SKIP: _ClassVar[ConflictPolicy]
    CONFLICT_POLICY_REPLACE: _ClassVar[ConflictPolicy]
ALGORITHM_UNSPECIFIED: Algorithm
ALGORITHM_PDQ: Algorithm
ALGORITHM_PHASH: Algorithm
ALGORITHM_DHASH: Algorithm
ALGORITHM_AHASH: Algorithm
ALGORITHM_WHASH: Algorithm
ALGORITHM_AUDIO_SIMHASH: Algorithm
CONFLICT_POLICY_UNSPECIFIED: ConflictPolicy
CONFLICT_POLICY_ERROR: ConflictPolicy
CONFLICT_POLICY_SKIP: ConflictPolicy
CONFLICT_POLICY_REPLACE: ConflictPolicy

class ItemError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class Fingerprint(_message.Message):
    __slots__ = ("code", "bits", "algorithm", "quality", "audio_fingerprint")
    CODE_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    code: bytes
    bits: int
    algorithm: Algorithm
    quality: int
    audio_fingerprint: str
    def __init__(self, code: _Optional[bytes] = ..., bits: _Optional[int] = ..., algorithm: _Optional[_Union[Algorithm, str]] = ..., quality: _Optional[int] = ..., audio_fingerprint: _Optional[str] = ...) -> None: ...

class QueryMatches(_message.Message):
    __slots__ = ("ids", "distances", "metadata")
    IDS_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    distances: _containers.RepeatedScalarFieldContainer[int]
    metadata: _containers.RepeatedCompositeFieldContainer[Metadata]
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., distances: _Optional[_Iterable[int]] = ..., metadata: _Optional[_Iterable[_Union[Metadata, _Mapping]]] = ...) -> None: ...

class Metadata(_message.Message):
    __slots__ = ("entries",)
    class EntriesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.ScalarMap[str, str]
    def __init__(self, entries: _Optional[_Mapping[str, str]] = ...) -> None: ...
