"""PutEvents for the bridge: entry sizing, request shapes (classic ``events`` and ``eventbridgev2``),
error-code classification, backoff with full jitter, an adaptive send rate, and the HTTP client.

Everything except :class:`PutEventsClient` is synchronous and free of I/O so it can be unit-tested without
AWS. The client never raises for an AWS or transport answer: it turns every outcome (a partial response, a
whole-call error, a timeout whose outcome is unknown) into one :class:`EntryResult` per entry, and the
bridge decides per entry what happens next.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, Literal, NamedTuple

import aiohttp
import boto3
import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, create_request_object, prepare_request_dict
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, NoCredentialsError, ParamValidationError
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

ApiMode = Literal["classic", "v2"]

UNKNOWN_OUTCOME: Final = "UnknownOutcome"
"""Our code for a call that may or may not have reached EventBridge (timeout, dropped connection)."""

USER_AGENT: Final = "orderstream-bridge"

TIME_BYTES: Final = 14
"""AWS counts a present ``Time`` as 14 bytes, whatever its value ("Calculating PutEvents entry size")."""


@dataclass(frozen=True, slots=True)
class ApiLimits:
    """Per-request limits of one PutEvents flavour."""

    max_entries: int
    max_bytes: int


CLASSIC_LIMITS: Final = ApiLimits(max_entries=10, max_bytes=256 * 1024)
V2_LIMITS: Final = ApiLimits(max_entries=100, max_bytes=1024 * 1024)


def limits_for(mode: ApiMode) -> ApiLimits:
    return V2_LIMITS if mode == "v2" else CLASSIC_LIMITS


# --------------------------------------------------------------------------------------------- entries


class Entry(NamedTuple):
    """One PutEvents entry, independent of the API flavour it will be sent with.

    A named tuple rather than a frozen dataclass: one is built per selected record, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost three times as much.
    """

    source: str
    detail_type: str
    detail: str
    bus: str
    time: datetime | None = None
    resources: tuple[str, ...] = ()
    group_id: str | None = None
    """V2 ``EventGroupId`` (the Kafka partition key): events of one group are delivered in order."""
    dedup_id: str | None = None
    """V2 ``DeduplicationId`` (the event_id): a resend of the same event is dropped by the bus."""


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def entry_size(entry: Entry) -> int:
    """The size EventBridge charges against the request limit.

    Per the AWS guide "Calculating Amazon EventBridge PutEvents event entry size": Time counts 14 bytes when
    present; Source, DetailType, Detail and each Resources item count their UTF-8 byte length. The bus name
    and the V2 system metadata are not part of the calculation.
    """
    size = TIME_BYTES if entry.time is not None else 0
    size += _utf8_len(entry.source) + _utf8_len(entry.detail_type) + _utf8_len(entry.detail)
    if entry.resources:
        size += sum(_utf8_len(resource) for resource in entry.resources)
    return size


def plan_batches(entries: Sequence[Entry], limits: ApiLimits, *, one_bus: bool) -> list[list[int]]:
    """Split ``entries`` (in order) into requests within ``limits``; returns indexes into ``entries``.

    ``one_bus`` keeps every request on a single bus (V2 names the bus once per request; classic names it
    per entry so requests may mix buses). An entry bigger than ``limits.max_bytes`` cannot be sent at all;
    callers must divert it (claim check or DLQ) before planning — here it gets a request of its own.
    """
    batches: list[list[int]] = []
    open_by_bus: dict[str, tuple[list[int], int]] = {}
    for index, entry in enumerate(entries):
        bus = entry.bus if one_bus else ""
        size = entry_size(entry)
        current = open_by_bus.get(bus)
        if current is not None:
            members, used = current
            if len(members) < limits.max_entries and used + size <= limits.max_bytes:
                members.append(index)
                open_by_bus[bus] = (members, used + size)
                continue
        members = [index]
        batches.append(members)
        open_by_bus[bus] = (members, size)
    return batches


def classic_request(entries: Sequence[Entry]) -> dict[str, Any]:
    """Keyword arguments of ``events.put_events``."""
    return {"Entries": [_classic_entry(entry) for entry in entries]}


def _classic_entry(entry: Entry) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "Source": entry.source,
        "DetailType": entry.detail_type,
        "Detail": entry.detail,
        "EventBusName": entry.bus,
    }
    if entry.time is not None:
        shaped["Time"] = entry.time
    if entry.resources:
        shaped["Resources"] = list(entry.resources)
    return shaped


def v2_request(entries: Sequence[Entry]) -> dict[str, Any]:
    """Keyword arguments of ``eventbridgev2.put_events`` (all entries must share one bus ARN)."""
    buses = {entry.bus for entry in entries}
    if len(buses) != 1:
        raise ValueError(f"a V2 request targets one bus, got {sorted(buses)}")
    return {"EventBusArn": buses.pop(), "Entries": [_v2_entry(entry) for entry in entries]}


def _v2_entry(entry: Entry) -> dict[str, Any]:
    shaped: dict[str, Any] = {"Source": entry.source, "DetailType": entry.detail_type, "Detail": entry.detail}
    if entry.time is not None:
        shaped["Time"] = entry.time
    if entry.resources:
        shaped["Resources"] = list(entry.resources)
    metadata: dict[str, str] = {}
    if entry.group_id:
        metadata["EventGroupId"] = entry.group_id
    if entry.dedup_id:
        metadata["DeduplicationId"] = entry.dedup_id
    if metadata:
        shaped["SystemMetadata"] = metadata
    return shaped


# --------------------------------------------------------------------------------------------- outcomes


class Verdict(Enum):
    """What the bridge does with one entry after a call."""

    ACCEPTED = "accepted"
    RETRY = "retry"
    REJECT = "reject"


THROTTLING_CODES: Final = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
TRANSIENT_CODES: Final = frozenset(
    {
        "InternalFailure",
        "InternalException",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        UNKNOWN_OUTCOME,
    }
)
"""Codes that may succeed if tried again. Everything else (InvalidArgument, MalformedDetail,
AccessDeniedException, NotAuthorizedFor*, ResourceNotFoundException, ...) is a permanent rejection."""


@dataclass(frozen=True, slots=True)
class EntryResult:
    """The outcome of one entry of one call. ``error_code`` None means accepted."""

    error_code: str | None = None
    message: str = ""

    @property
    def verdict(self) -> Verdict:
        return classify(self.error_code)

    @property
    def throttled(self) -> bool:
        return self.error_code in THROTTLING_CODES


ACCEPTED: Final = EntryResult()


def classify(error_code: str | None) -> Verdict:
    """Throttling and internal/unknown errors are retried; every other code is final (→ DLQ)."""
    if error_code is None:
        return Verdict.ACCEPTED
    if error_code in THROTTLING_CODES or error_code in TRANSIENT_CODES:
        return Verdict.RETRY
    return Verdict.REJECT


def results_from_response(response: dict[str, Any], count: int) -> list[EntryResult]:
    """Per-entry results of a PutEvents response (the same shape for both flavours).

    A response listing fewer entries than were sent is treated as unknown for the missing ones.
    """
    listed = response.get("Entries") or []
    results = [
        EntryResult(item["ErrorCode"], item.get("ErrorMessage") or "") if item.get("ErrorCode") else ACCEPTED
        for item in listed[:count]
    ]
    missing = count - len(results)
    return results + [EntryResult(UNKNOWN_OUTCOME, "response did not list this entry")] * missing


# --------------------------------------------------------------------------------------------- pacing


def full_jitter(
    attempt: int, *, base: float = 0.05, cap: float = 5.0, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): uniform in [0, min(cap, base·2^attempt)].

    "Full jitter" from the AWS Architecture Blog post "Exponential Backoff And Jitter": spreading retries
    over the whole window is what stops many throttled senders from retrying in lock-step.
    """
    ceiling = min(cap, base * (2 ** min(max(0, attempt), 32)))  # retries never end: no float overflow
    return (rng or random).uniform(0.0, ceiling)


class AdaptiveRate:
    """A token bucket (entries per second) whose rate halves on throttling and grows back on success.

    Cuts are at most one per ``cut_interval`` so a burst of throttled replies from requests that were
    already in flight counts as one signal, not ten halvings.
    """

    def __init__(
        self,
        *,
        ceiling: float = 100_000.0,
        floor: float = 10.0,
        growth: float = 1.05,
        cut: float = 0.5,
        cut_interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = ceiling
        self.floor = floor
        self.growth = growth
        self.cut = cut
        self.cut_interval = cut_interval
        self._clock = clock
        self.rate = ceiling
        self._tokens = ceiling
        self._stamp = clock()
        self._last_cut = float("-inf")

    def on_throttled(self) -> None:
        now = self._clock()
        if now - self._last_cut >= self.cut_interval:
            self.rate = max(self.floor, self.rate * self.cut)
            self._last_cut = now
            self._tokens = min(self._tokens, self._capacity())

    def on_success(self) -> None:
        self.rate = min(self.ceiling, self.rate * self.growth)

    def _capacity(self) -> float:
        return max(self.rate * 0.1, 100.0)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity(), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def delay_for(self, count: int) -> float:
        """Take ``count`` tokens if there are enough (→ 0.0), else the seconds to wait before asking again."""
        self._refill()
        if self._tokens >= count:
            self._tokens -= count
            return 0.0
        return (count - self._tokens) / self.rate

    async def acquire(self, count: int) -> None:
        # A token bucket refills with time, not on an event, so sleeping for the computed deficit is right.
        while (wait := self.delay_for(count)) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)


# --------------------------------------------------------------------------------------------- client


class PutEventsCodec:
    """PutEvents params → a signed HTTP request, and an HTTP answer → per-entry results.

    It uses botocore's own pieces for the service's protocol (JSON 1.1 for ``events``, RPC v2 CBOR for
    ``eventbridgev2``): the serializer and, optionally, the parameter validator of the service model, the
    SigV4 signer and the response parser. What it leaves out is boto3's call machinery (event hooks,
    retries, a blocking HTTP pool), which is what used to need a thread per request.
    """

    def __init__(
        self,
        service_model: ServiceModel,
        *,
        endpoint_url: str,
        region: str,
        credentials: Credentials | None,
        validate: bool = True,
    ) -> None:
        self.operation = service_model.operation_model("PutEvents")
        protocol = service_model.metadata["protocol"]
        self._serializer = create_serializer(protocol, include_validation=validate)
        self._parser = create_parser(protocol)
        self._endpoint_url = endpoint_url
        self._signing_name = service_model.signing_name
        self._region = region
        self._credentials = credentials
        self._json_headers: dict[str, str] | None = None
        if protocol == "json" and not validate:
            metadata = service_model.metadata
            self._json_headers = {
                "X-Amz-Target": f"{metadata['targetPrefix']}.{self.operation.name}",
                "Content-Type": f"application/x-amz-json-{metadata['jsonVersion']}",
            }

    def serialize(self, params: dict[str, Any]) -> dict[str, Any]:
        """botocore's request dict for ``params``.

        For the JSON protocol without validation the body is written with orjson instead of botocore's
        shape-walking serializer, which cost more CPU than the rest of a call. The output is the same
        (timestamps as epoch seconds, no other conversions apply to PutEvents); a unit test compares the
        two for the requests the bridge builds.
        """
        if self._json_headers is None:
            request_dict: dict[str, Any] = self._serializer.serialize_to_request(params, self.operation)
            return request_dict
        body = orjson.dumps(params, default=_epoch_seconds, option=orjson.OPT_PASSTHROUGH_DATETIME)
        return {
            "url_path": "/",
            "query_string": "",
            "method": "POST",
            "headers": dict(self._json_headers),
            "body": body,
        }

    def signed_request(self, params: dict[str, Any]) -> AWSPreparedRequest:
        """Serialize (and validate) ``params``, then sign; raises ParamValidationError or NoCredentialsError."""
        request_dict = self.serialize(params)
        request_dict["context"] = {}
        prepare_request_dict(request_dict, endpoint_url=self._endpoint_url, user_agent=USER_AGENT)
        request = create_request_object(request_dict)
        if self._credentials is None:
            raise NoCredentialsError()
        SigV4Auth(self._credentials.get_frozen_credentials(), self._signing_name, self._region).add_auth(
            request
        )
        return request.prepare()

    def results(self, status: int, headers: Mapping[str, str], body: bytes, count: int) -> list[EntryResult]:
        """Per-entry results of one HTTP answer; a whole-call error applies to every entry."""
        if status == 200 and self._json_headers is not None:  # the common case, without the shape walk
            return results_from_response(orjson.loads(body), count)
        parsed = self._parser.parse(
            {"status_code": status, "headers": headers, "body": body}, self.operation.output_shape
        )
        error = parsed.get("Error")
        if not error:
            return results_from_response(parsed, count)
        code = str(error.get("Code") or f"HTTP{status}")
        if code.isdigit() and status >= 500:  # a bare 5xx (proxy, load balancer): worth another try
            code = "ServiceUnavailable"
        return [EntryResult(code, str(error.get("Message") or ""))] * count


def _epoch_seconds(value: Any) -> float:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.timestamp()
    raise TypeError(f"cannot serialize {type(value).__name__}")


class PutEventsClient:
    """PutEvents over aiohttp on the caller's event loop, at most ``max_in_flight`` connections.

    The bridge used to call boto3 on a thread pool; profiling showed that the per-call CPU of boto3 plus the
    GIL hand-overs between those threads and the event loop (Kafka fetching, decoding) cost more than the
    pipeline itself. Here a call is serialized, signed and parsed with botocore's own protocol code
    (:class:`PutEventsCodec`) and sent without leaving the loop. There are no automatic retries: retrying
    is per entry and belongs to the bridge (a retry of the whole call would resend accepted entries).
    A boto3 client is created once only to resolve the endpoint, region and service model the usual way.

    ``validate`` checks every request against the service model before sending. It is off by default: it
    costs about as much CPU as serializing, and EventBridge refuses an invalid request anyway (a whole-call
    ``ValidationException``, a rejection like the ``InvalidArgument`` the local check would give). The unit
    tests validate the request shapes the bridge builds.
    """

    def __init__(
        self,
        mode: ApiMode,
        *,
        region: str,
        endpoint_url: str | None = None,
        max_in_flight: int = 4,
        read_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        session: boto3.session.Session | None = None,
        validate: bool = False,
    ) -> None:
        self.mode: ApiMode = mode
        self.limits = limits_for(mode)
        boto_session = session or boto3.session.Session()
        service = "eventbridgev2" if mode == "v2" else "events"
        meta = boto_session.client(service, region_name=region, endpoint_url=endpoint_url).meta
        self.codec = PutEventsCodec(
            meta.service_model,
            endpoint_url=meta.endpoint_url,
            region=meta.region_name,
            credentials=boto_session.get_credentials(),
            validate=validate,
        )
        self._max_in_flight = max_in_flight
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._http: aiohttp.ClientSession | None = None

    def request_for(self, entries: Sequence[Entry]) -> dict[str, Any]:
        return v2_request(entries) if self.mode == "v2" else classic_request(entries)

    async def put(self, entries: Sequence[Entry]) -> list[EntryResult]:
        """Send one request; never raises for an AWS or transport failure."""
        count = len(entries)
        try:
            request = self.codec.signed_request(self.request_for(entries))
        except ParamValidationError as exc:  # refused before sending: never valid, never retried
            return [EntryResult("InvalidArgument", str(exc))] * count
        except BotoCoreError as exc:  # no credentials yet, for instance: nothing was sent
            return [EntryResult(UNKNOWN_OUTCOME, f"{type(exc).__name__}: {exc}")] * count
        try:
            async with self._session().post(
                request.url, data=request.body, headers=dict(request.headers.items())
            ) as reply:
                body = await reply.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:  # the call may have been accepted
            return [EntryResult(UNKNOWN_OUTCOME, f"{type(exc).__name__}: {exc}")] * count
        return self.codec.results(reply.status, reply.headers, body, count)

    def _session(self) -> aiohttp.ClientSession:
        """Created on first use so that it belongs to the running loop."""
        if self._http is None:
            connector = aiohttp.TCPConnector(limit=self._max_in_flight)
            self._http = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
