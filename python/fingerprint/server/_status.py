"""The one table mapping exceptions to gRPC status codes, and the service's own exceptions."""

from __future__ import annotations

from typing import Dict, Tuple, Type

import grpc

from ..errors import (
    CorruptIndexError,
    DecodeError,
    DuplicateIdError,
    FingerprintError,
    MissingIdError,
)

__all__ = [
    "ServiceError",
    "NotFoundError",
    "AlreadyExistsError",
    "LimitExceededError",
    "UnauthenticatedError",
    "PermissionDeniedError",
    "DeadlineError",
    "STATUS_TABLE",
    "status_for",
]


class ServiceError(FingerprintError):
    """Base of the errors the gRPC service raises about a request."""


class NotFoundError(ServiceError, KeyError):
    """A collection or item named in a request does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AlreadyExistsError(ServiceError, ValueError):
    """A collection or item id already exists."""


class LimitExceededError(ServiceError):
    """A request is over a configured limit (batch size, k, results, concurrent streams)."""


class UnauthenticatedError(ServiceError):
    """No bearer token, or one that is not configured."""


class PermissionDeniedError(ServiceError):
    """The token's scope does not allow the call."""


class DeadlineError(ServiceError):
    """The call's deadline passed before the work was done."""


# Looked up along the exception's MRO, so the most specific class listed wins.
STATUS_TABLE: Dict[Type[BaseException], grpc.StatusCode] = {
    UnauthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
    LimitExceededError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    NotFoundError: grpc.StatusCode.NOT_FOUND,
    MissingIdError: grpc.StatusCode.NOT_FOUND,
    AlreadyExistsError: grpc.StatusCode.ALREADY_EXISTS,
    DuplicateIdError: grpc.StatusCode.ALREADY_EXISTS,
    DeadlineError: grpc.StatusCode.DEADLINE_EXCEEDED,
    DecodeError: grpc.StatusCode.INVALID_ARGUMENT,
    CorruptIndexError: grpc.StatusCode.DATA_LOSS,
    ValueError: grpc.StatusCode.INVALID_ARGUMENT,
    TypeError: grpc.StatusCode.INVALID_ARGUMENT,
    OverflowError: grpc.StatusCode.INVALID_ARGUMENT,
    MemoryError: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def status_for(exc: BaseException) -> Tuple[grpc.StatusCode, str]:
    """The status code and client-facing message for `exc` (INTERNAL for anything unexpected)."""
    for cls in type(exc).__mro__:
        code = STATUS_TABLE.get(cls)
        if code is not None:
            return code, str(exc) or type(exc).__name__
    return grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server log"
