from fingerprint.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HashRequest(_message.Message):
    __slots__ = ("media", "algorithm", "bits")
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    media: bytes
    algorithm: _common_pb2.Algorithm
    bits: int
    def __init__(self, media: _Optional[bytes] = ..., algorithm: _Optional[_Union[_common_pb2.Algorithm, str]] = ..., bits: _Optional[int] = ...) -> None: ...

class HashResponse(_message.Message):
    __slots__ = ("fingerprint",)
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    fingerprint: _common_pb2.Fingerprint
    def __init__(self, fingerprint: _Optional[_Union[_common_pb2.Fingerprint, _Mapping]] = ...) -> None: ...

class HashStreamRequest(_message.Message):
    __slots__ = ("tag", "media", "algorithm", "bits")
    TAG_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    tag: str
    media: bytes
    algorithm: _common_pb2.Algorithm
    bits: int
    def __init__(self, tag: _Optional[str] = ..., media: _Optional[bytes] = ..., algorithm: _Optional[_Union[_common_pb2.Algorithm, str]] = ..., bits: _Optional[int] = ...) -> None: ...

class HashStreamResponse(_message.Message):
    __slots__ = ("tag", "index", "fingerprint", "error")
    TAG_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    tag: str
    index: int
    fingerprint: _common_pb2.Fingerprint
    error: _common_pb2.ItemError
    def __init__(self, tag: _Optional[str] = ..., index: _Optional[int] = ..., fingerprint: _Optional[_Union[_common_pb2.Fingerprint, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ...) -> None: ...
