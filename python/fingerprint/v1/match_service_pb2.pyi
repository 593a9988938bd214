from fingerprint.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchRequest(_message.Message):
    __slots__ = ("collection", "codes", "k", "max_distance", "include_metadata")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MAX_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_METADATA_FIELD_NUMBER: _ClassVar[int]
    collection: str
    codes: bytes
    k: int
    max_distance: int
    include_metadata: bool
    def __init__(self, collection: _Optional[str] = ..., codes: _Optional[bytes] = ..., k: _Optional[int] = ..., max_distance: _Optional[int] = ..., include_metadata: _Optional[bool] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[_common_pb2.QueryMatches]
    def __init__(self, results: _Optional[_Iterable[_Union[_common_pb2.QueryMatches, _Mapping]]] = ...) -> None: ...

class MatchMediaRequest(_message.Message):
    __slots__ = ("collection", "media", "k", "max_distance", "include_metadata")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MAX_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_METADATA_FIELD_NUMBER: _ClassVar[int]
    collection: str
    media: bytes
    k: int
    max_distance: int
    include_metadata: bool
    def __init__(self, collection: _Optional[str] = ..., media: _Optional[bytes] = ..., k: _Optional[int] = ..., max_distance: _Optional[int] = ..., include_metadata: _Optional[bool] = ...) -> None: ...

class MatchMediaResponse(_message.Message):
    __slots__ = ("fingerprint", "matches")
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    fingerprint: _common_pb2.Fingerprint
    matches: _common_pb2.QueryMatches
    def __init__(self, fingerprint: _Optional[_Union[_common_pb2.Fingerprint, _Mapping]] = ..., matches: _Optional[_Union[_common_pb2.QueryMatches, _Mapping]] = ...) -> None: ...

class MatchStreamRequest(_message.Message):
    __slots__ = ("tag", "collection", "code", "media", "k", "max_distance", "include_metadata")
    TAG_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MAX_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_METADATA_FIELD_NUMBER: _ClassVar[int]
    tag: str
    collection: str
    code: bytes
    media: bytes
    k: int
    max_distance: int
    include_metadata: bool
    def __init__(self, tag: _Optional[str] = ..., collection: _Optional[str] = ..., code: _Optional[bytes] = ..., media: _Optional[bytes] = ..., k: _Optional[int] = ..., max_distance: _Optional[int] = ..., include_metadata: _Optional[bool] = ...) -> None: ...

class MatchStreamResponse(_message.Message):
    __slots__ = ("tag", "index", "matches", "fingerprint", "error")
    TAG_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    tag: str
    index: int
    matches: _common_pb2.QueryMatches
    fingerprint: _common_pb2.Fingerprint
    error: _common_pb2.ItemError
    def __init__(self, tag: _Optional[str] = ..., index: _Optional[int] = ..., matches: _Optional[_Union[_common_pb2.QueryMatches, _Mapping]] = ..., fingerprint: _Optional[_Union[_common_pb2.Fingerprint, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ...) -> None: ...

class FindDuplicatesRequest(_message.Message):
    __slots__ = ("codes", "bits", "max_distance", "collection", "k")
    CODES_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    MAX_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    codes: bytes
    bits: int
    max_distance: int
    collection: str
    k: int
    def __init__(self, codes: _Optional[bytes] = ..., bits: _Optional[int] = ..., max_distance: _Optional[int] = ..., collection: _Optional[str] = ..., k: _Optional[int] = ...) -> None: ...

class FindDuplicatesResponse(_message.Message):
    __slots__ = ("first", "second", "distances", "collection_matches")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_MATCHES_FIELD_NUMBER: _ClassVar[int]
    first: _containers.RepeatedScalarFieldContainer[int]
    second: _containers.RepeatedScalarFieldContainer[int]
    distances: _containers.RepeatedScalarFieldContainer[int]
    collection_matches: _containers.RepeatedCompositeFieldContainer[_common_pb2.QueryMatches]
    def __init__(self, first: _Optional[_Iterable[int]] = ..., second: _Optional[_Iterable[int]] = ..., distances: _Optional[_Iterable[int]] = ..., collection_matches: _Optional[_Iterable[_Union[_common_pb2.QueryMatches, _Mapping]]] = ...) -> None: ...
