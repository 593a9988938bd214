"""Bearer-token authentication: `authorization: Bearer TOKEN` metadata, read/write/admin scopes."""

from __future__ import annotations

import logging
from typing import Callable, Dict, Optional

import grpc

from ._status import PermissionDeniedError, UnauthenticatedError, status_for
from .config import SCOPES, hash_token

__all__ = ["AuthInterceptor", "METHOD_SCOPES", "required_scope"]

log = logging.getLogger("fingerprint.server")

# Full method or service name -> scope needed. Anything not listed needs "admin", so a new
# RPC is closed until someone decides otherwise; None means no token needed.
METHOD_SCOPES: Dict[str, Optional[str]] = {
    "/grpc.health.v1.Health/": None,
    "/grpc.reflection.v1alpha.ServerReflection/": "read",
    "/grpc.reflection.v1.ServerReflection/": "read",
    "/fingerprint.v1.CollectionService/CreateCollection": "admin",
    "/fingerprint.v1.CollectionService/DeleteCollection": "admin",
    "/fingerprint.v1.CollectionService/ListCollections": "read",
    "/fingerprint.v1.CollectionService/DescribeCollection": "read",
    "/fingerprint.v1.HashService/": "read",
    "/fingerprint.v1.MatchService/": "read",
    "/fingerprint.v1.IngestService/": "write",
}


def required_scope(method: str) -> Optional[str]:
    """The scope `method` (e.g. "/fingerprint.v1.MatchService/Search") needs, or None."""
    if method in METHOD_SCOPES:
        return METHOD_SCOPES[method]
    service = method[: method.rfind("/") + 1]
    return METHOD_SCOPES.get(service, "admin")


def _denier(handler: grpc.RpcMethodHandler, exc: Exception) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that fails the call with `exc`'s status."""
    code, message = status_for(exc)

    def deny(_request: object, context: grpc.ServicerContext) -> None:
        context.abort(code, message)

    kwargs = dict(request_deserializer=handler.request_deserializer,
                  response_serializer=handler.response_serializer)
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny, **kwargs)
    return grpc.unary_unary_rpc_method_handler(deny, **kwargs)


class AuthInterceptor(grpc.ServerInterceptor):
    """Checks the bearer token of every call against the configured sha256(token) -> scope map."""

    def __init__(self, tokens: Dict[str, str]) -> None:
        self._tokens = dict(tokens)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Optional[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Optional[grpc.RpcMethodHandler]:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        needed = required_scope(handler_call_details.method)
        if needed is None:
            return handler
        auth = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                auth = value if isinstance(value, str) else value.decode("latin-1")
                break
        if auth is None:
            return _denier(handler, UnauthenticatedError(
                "missing 'authorization: Bearer <token>' metadata"))
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _denier(handler, UnauthenticatedError("authorization must be 'Bearer <token>'"))
        scope = self._tokens.get(hash_token(token.strip()))
        if scope is None:
            return _denier(handler, UnauthenticatedError("unknown bearer token"))
        if SCOPES.index(scope) < SCOPES.index(needed):
            return _denier(handler, PermissionDeniedError(
                f"{handler_call_details.method} needs the {needed!r} scope; this token has {scope!r}"))
        return handler
