"""The faust application of a worker: its configuration, and nothing that depends on the agents.

Naming: the faust app id (the consumer group, the table changelog topics and the transactional ids) is
``<ORDERSTREAM_APP_ID>-<agent>`` when a process runs one agent (as each Fargate service does) and
``<ORDERSTREAM_APP_ID>-worker`` when it runs several.

faust runs with ``processing_guarantee="at_least_once"`` whatever the worker's guarantee: the data plane
(:mod:`streams.dataplane`) writes every batch in a transaction of its own and, under exactly_once, puts the
input offsets in it; faust's own per-record transactions are not used.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import faust
from faust.sensors import Monitor

from orderstream import kafka
from orderstream.settings import AGENT_NAMES, WorkerSettings
from streams.dataplane.transport import URL_SCHEME
from streams.recovery import CommittedTableManager


def faust_id(settings: WorkerSettings) -> str:
    agents = [name for name in AGENT_NAMES if name in settings.agent_set]
    role = agents[0] if len(agents) == 1 else "worker"
    return f"{settings.app_id}-{role}"


class LeanMonitor(Monitor):
    """faust's Monitor sensor without its per-record statistics.

    The Monitor keeps counts and timings per record, stream, task and table access for faust's own web
    views, which this app does not serve. What faust itself reads is kept: when each partition's stream last
    took a record, for its "stream is not processing" warnings. Our counters and Prometheus metrics
    (:mod:`streams.metrics`) are kept per batch.
    """

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = time.monotonic()

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        pass

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_table_get(self, table: Any, key: Any) -> None:
        pass

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        pass


class WorkerApp(faust.App):
    """faust's App; stopping it first lets the data plane finish and commit its batches."""

    plane: Any = None

    async def on_start(self) -> None:
        # The worker configured logging before the app starts: repeated lines (a broker that cannot be
        # reached logs one per attempt) are now limited per message.
        from orderstream import logfilter

        logfilter.install()
        await super().on_start()

    async def on_stop(self) -> None:
        if self.plane is not None:
            await self.plane.stop()
        await super().on_stop()


def _store_url(settings: WorkerSettings) -> str:
    if settings.store == "memory":
        return "memory://"
    from streams.stores import URL_SCHEME as ROCKSDB  # registers the store with faust

    return f"{ROCKSDB}://"


def advertised_url(settings: WorkerSettings) -> str:
    """Where other workers reach this one's web server: faust forwards a ``/loyalty/{id}`` request that
    arrives at a worker not owning the key to the owner's advertised URL, so every task must advertise its
    own address, not the wildcard it binds."""
    host = settings.web_advertised_host or settings.web_host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostbyname(socket.gethostname())  # on Fargate (awsvpc): the task's own address
    return f"http://{host}:{settings.web_port}"


def make_app(settings: WorkerSettings) -> WorkerApp:
    datadir = (settings.data_dir / faust_id(settings)).resolve()
    datadir.mkdir(parents=True, exist_ok=True)
    brokers = kafka.faust_broker_urls(settings)
    return WorkerApp(
        faust_id(settings),
        broker=brokers,
        # The consumer comes from the data plane's registered transport (streams.dataplane.transport).
        broker_consumer=[url.replace("kafka://", f"{URL_SCHEME}://", 1) for url in brokers],
        broker_credentials=kafka.faust_credentials(settings),
        store=_store_url(settings),
        datadir=str(datadir),
        processing_guarantee="at_least_once",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=True,
        web_enabled=True,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        canonical_url=advertised_url(settings),
        web_tables_enabled=False,  # faust's /table views serve table data; /loyalty is the view we mean to serve
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=5,
        broker_commit_every=1000,
        # A killed worker's partitions move to the others after this long (faust's default is 60 s).
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=max(1.0, settings.session_timeout / 4),
        broker_commit_interval=1.0,
        broker_max_poll_records=5000,
        stream_buffer_maxsize=4096,
        table_standby_replicas=1,
        worker_redirect_stdouts=False,
        loghandlers=[],
        Monitor=LeanMonitor,
        TableManager=CommittedTableManager,
    )
