"""A gRPC server interceptor that times every call by service, method and status code."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from prometheus_client import Histogram

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def _code(context: Context, error: BaseException | None) -> str:
    """The status code the call ends with: the one set or aborted with, else from ``error``."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if error is None:
        return grpc.StatusCode.OK.name
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED.name
    return grpc.StatusCode.UNKNOWN.name


class RpcMetrics(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Observes ``grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method,grpc_code}``.

    A streaming call is timed from its start to its end."""

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")

        def observe(
            kind: str, started: float, context: Context, error: BaseException | None
        ) -> None:
            self._histogram.labels(
                grpc_type=kind,
                grpc_service=service,
                grpc_method=method,
                grpc_code=_code(context, error),
            ).observe(time.monotonic() - started)

        def unary_response(behavior: Any, kind: str) -> Any:
            async def timed(request: Any, context: Context) -> Any:
                started = time.monotonic()
                try:
                    reply = behavior(request, context)
                    if inspect.isawaitable(reply):
                        reply = await reply
                except BaseException as error:
                    observe(kind, started, context, error)
                    raise
                observe(kind, started, context, None)
                return reply

            return timed

        def streamed_response(behavior: Any, kind: str) -> Any:
            async def timed(request: Any, context: Context) -> AsyncIterator[Any]:
                started = time.monotonic()
                try:
                    replies = behavior(request, context)
                    if inspect.isasyncgen(replies):
                        async for reply in replies:
                            yield reply
                    elif inspect.isawaitable(replies):
                        await replies
                    else:
                        for reply in replies:
                            yield reply
                except BaseException as error:
                    observe(kind, started, context, error)
                    raise
                observe(kind, started, context, None)

            return timed

        common = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                unary_response(handler.unary_unary, "unary"), **common
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                unary_response(handler.stream_unary, "client_stream"), **common
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                streamed_response(handler.unary_stream, "server_stream"), **common
            )
        return grpc.stream_stream_rpc_method_handler(
            streamed_response(handler.stream_stream, "bidi_stream"), **common
        )
