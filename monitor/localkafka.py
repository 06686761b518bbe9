"""A real single-node Apache Kafka broker (KRaft, combined broker+controller) for tests and local runs.

No Docker: the broker's jars are resolved once from Maven Central with ``deploy/kafka/pom.xml``
into a cache directory and started with ``java -cp '<libs>/*' kafka.Kafka server.properties``.
Later runs start fully offline from the cache.

::

    with LocalKafka() as kafka:            # fetch jars if missing, format, start, wait until ready
        produce_to(kafka.bootstrap)        # "127.0.0.1:PORT"
        kafka.restart()                    # same ports, same data: what fault tests need
        kafka.kill()                       # SIGKILL, e.g. to test recovery; restart() brings it back

Cache layout: ``<cache>/<version>/libs/*.jar`` plus a ``.complete`` marker written after a full
copy, so an interrupted download is redone. ``<cache>`` is ``$MONITOR_KAFKA_CACHE`` if set, else
``<repo>/.cache/kafka``. Data dir layout: ``server.properties``, ``log4j2.xml``, ``kafka-logs/``,
``server.log`` (log4j, WARN and above) and ``kafka.out`` (the JVM's stdout/stderr).

Command line (an edge, so it prints)::

    python -m monitor.localkafka fetch     # only resolve/cache the jars, print where
    python -m monitor.localkafka run       # start, print KAFKA_BOOTSTRAP_SERVERS=..., stop on SIGINT/SIGTERM
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import concurrent.futures
import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Final, Self

from aiokafka.admin import AIOKafkaAdminClient

from monitor.errors import BrokerUnavailable, EnvironmentProblem

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_JVM_OPTIONS",
    "LocalKafka",
    "bootstrap_servers",
    "default_cache_dir",
    "ensure_jars",
    "kafka_version",
]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
POM: Final = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
CACHE_ENV: Final = "MONITOR_KAFKA_CACHE"
# Tuned for start-up on small machines, not peak throughput: C1 only (-XX:TieredStopAtLevel=1)
# and the serial collector start a broker about twice as fast on 2 busy cores and use less memory.
DEFAULT_JVM_OPTIONS: Final[tuple[str, ...]] = (
    "-Xmx512m",
    "-Xms256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
_MARKER: Final = ".complete"
_MIN_JAVA: Final = 17
_HINT: Final = (
    "install Java 17+ (and Maven 3, needed once to download the broker jars), "
    "or set KAFKA_BOOTSTRAP_SERVERS to an existing broker"
)
_LOG4J2_XML: Final = """\
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="error">
  <Appenders>
    <File name="file" fileName="{path}">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="{level}"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version pinned in ``deploy/kafka/pom.xml`` (property ``kafka.version``)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    try:
        node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    except (OSError, ET.ParseError) as exc:
        raise EnvironmentProblem(f"cannot read the Kafka version from {pom}: {exc}") from exc
    if node is None or not (node.text or "").strip():
        raise EnvironmentProblem(f"{pom} has no <kafka.version> property")
    return (node.text or "").strip()


def default_cache_dir() -> Path:
    """``$MONITOR_KAFKA_CACHE`` if set, else ``<repo>/.cache/kafka``; versions live below it."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else REPO_ROOT / ".cache" / "kafka"


def _libs_complete(libs: Path) -> bool:
    try:
        jars: list[str] = json.loads((libs / _MARKER).read_text())["jars"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(jars) and all((libs / jar).is_file() for jar in jars)


def ensure_jars(version: str | None = None, cache_dir: Path | None = None) -> Path:
    """Return ``<cache>/<version>/libs``, running Maven only if the cache is missing or incomplete.

    A file lock serialises concurrent callers (e.g. several pytest workers) on one cache.
    """
    version = version or kafka_version()
    libs = (cache_dir or default_cache_dir()) / version / "libs"
    if _libs_complete(libs):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise EnvironmentProblem(f"Kafka {version} jars are not in {libs} and `mvn` is not on PATH: {_HINT}")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with open(libs.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _libs_complete(libs):  # another process finished while we waited
            return libs
        shutil.rmtree(libs, ignore_errors=True)
        cmd = [
            mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}", f"-Dkafka.version={version}",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        jars = sorted(p.name for p in libs.glob("*.jar"))
        if proc.returncode != 0 or not jars:
            out = _tail_text(proc.stdout + proc.stderr)
            raise EnvironmentProblem(
                f"Maven could not resolve Kafka {version} (exit {proc.returncode}); check network access "
                f"to Maven Central or {_HINT}.\n$ {' '.join(cmd)}\n{out}"
            )
        (libs / _MARKER).write_text(json.dumps({"version": version, "jars": jars}, indent=0))
    return libs


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise EnvironmentProblem(f"`java` was not found (JAVA_HOME or PATH): {_HINT}")
    try:
        proc = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"cannot run {java} -version ({exc}): {_HINT}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if match:
        major = int(match[1]) if match[1] != "1" else int(match[2] or 0)  # "1.8.0_x" is Java 8
        if major < _MIN_JAVA:
            raise EnvironmentProblem(f"{java} is Java {major}; Kafka 4 needs Java {_MIN_JAVA}+: {_HINT}")
    return java


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (all held open at once, so they cannot repeat)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail_text(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            return _tail_text(fh.read().decode("utf-8", "replace"), lines)
    except OSError:
        return ""


async def _probe(bootstrap: str, timeout_s: float) -> None:
    """One readiness check: metadata lists our broker and the group/transaction coordinators answer.

    Asking for the coordinators makes the broker create ``__consumer_offsets`` and
    ``__transaction_state`` now rather than in the first test that needs them.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000), client_id="localkafka-probe"
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        if not cluster.get("brokers"):
            raise BrokerUnavailable(f"{bootstrap}: metadata lists no brokers yet")
        await admin.find_coordinator("localkafka-probe", 0)
        await admin.find_coordinator("localkafka-probe", 1)
    finally:
        await admin.close()


class LocalKafka:
    """A single-node KRaft Kafka broker run from cached Maven jars; a sync API and a context manager.

    Ports (broker and controller, both on 127.0.0.1) are picked on the first :meth:`start` and
    kept for :meth:`restart`, so clients can reconnect to the same ``bootstrap``. The data dir is a
    fresh temp dir removed by :meth:`close`, unless ``data_dir`` is given (then it is kept and
    reused: an already formatted dir is not formatted again). ``config`` entries override the
    generated ``server.properties``. Not thread-safe: drive one instance from one thread at a time.
    """

    def __init__(
        self,
        *,
        partitions: int = 1,
        version: str | None = None,
        cache_dir: Path | None = None,
        data_dir: Path | None = None,
        config: Mapping[str, str] | None = None,
        jvm_options: Sequence[str] = DEFAULT_JVM_OPTIONS,
        log_level: str = "WARN",
        start_timeout_s: float = 90.0,
        stop_timeout_s: float = 30.0,
    ) -> None:
        self.partitions = partitions
        self.version = version or kafka_version()
        self.cache_dir = cache_dir or default_cache_dir()
        self.config = dict(config or {})
        self.jvm_options = tuple(jvm_options)
        self.log_level = log_level
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._own_data_dir = data_dir is None
        self._data_dir = data_dir
        self._ports: tuple[int, int] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self._closed = False

    # -- public API ---------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:PORT`` of the PLAINTEXT listener; fixed once the broker was first started."""
        if self._ports is None:
            raise BrokerUnavailable("LocalKafka was never started; call start() or use it as a context manager")
        return f"127.0.0.1:{self._ports[0]}"

    @property
    def data_dir(self) -> Path:
        """Where ``server.properties``, the logs and the partition data live."""
        if self._data_dir is None:
            raise BrokerUnavailable("LocalKafka was never started; it has no data dir yet")
        return self._data_dir

    @property
    def pid(self) -> int | None:
        """Process id of the running broker JVM, or ``None`` when it is not running."""
        return self._proc.pid if self.running and self._proc else None

    @property
    def running(self) -> bool:
        """Whether the broker process is alive (it may still be starting)."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        """Fetch the jars if needed, format storage on first use, start the JVM and wait until ready.

        Raises :class:`EnvironmentProblem` when Java (or Maven, when jars are missing) is absent and
        :class:`BrokerUnavailable` with the tail of the broker log when it does not become ready.
        """
        if self._closed:
            raise BrokerUnavailable("this LocalKafka was closed; create a new one")
        if self.running:
            return self
        self._reap()  # the broker may have died on its own since the last start
        java = _java()
        libs = ensure_jars(self.version, self.cache_dir)
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix="monitor-kafka-"))
        if self._ports is None:
            broker, controller = _free_ports(2)
            self._ports = (broker, controller)
            atexit.register(self.close)  # never leave a JVM behind, even if the caller forgets
        self._write_config()
        if not (self.data_dir / "kafka-logs" / "meta.properties").exists():
            self._format(java, libs)
        self._launch(java, libs)
        self._wait_ready()
        return self

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL after ``stop_timeout_s``. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reap()

    def kill(self) -> None:
        """SIGKILL the broker (no clean shutdown); :meth:`restart` recovers the same data."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._reap()

    def restart(self) -> Self:
        """Stop (if running) and start again on the same ports and data dir."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the broker and remove the data dir if it is our temp dir. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        atexit.unregister(self.close)
        if self._own_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the JVM output and of the broker log, for error messages."""
        if self._data_dir is None:
            return ""
        parts = []
        for name in ("kafka.out", "server.log"):
            text = _tail(self._data_dir / name, lines)
            if text:
                parts.append(f"--- {self._data_dir / name} (tail) ---\n{text}")
        return "\n".join(parts) or f"(no output in {self._data_dir})"

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.bootstrap if self._ports else "not started"
        return f"<LocalKafka {self.version} {where} {'running' if self.running else 'stopped'}>"

    # -- internals ----------------------------------------------------------------------------

    def _properties(self) -> dict[str, str]:
        assert self._ports is not None
        port, controller = self._ports
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "kafka-logs"),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            # Fewer internal partitions than the default 50: the broker is ready sooner and smaller.
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "8",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # After a kill the controller refuses the new incarnation until the old one's session
            # expires (default 9 s), and unfences a restarted broker on its next heartbeat (default 2 s).
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
            # The cleaner (compacted topics: offsets, Faust changelogs) reserves 128 MiB by default.
            "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
        }
        props.update(self.config)
        return props

    def _write_config(self) -> None:
        body = "".join(f"{key}={value}\n" for key, value in self._properties().items())
        (self.data_dir / "server.properties").write_text(body)
        (self.data_dir / "log4j2.xml").write_text(
            _LOG4J2_XML.format(path=self.data_dir / "server.log", level=self.log_level)
        )

    def _java_cmd(self, java: str, libs: Path, main: str, *args: str) -> list[str]:
        log4j = f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.xml'}"
        return [java, *self.jvm_options, log4j, "-cp", f"{libs}/*", main, *args]

    def _format(self, java: str, libs: Path) -> None:
        cluster_id = "-"
        while cluster_id.startswith("-"):  # like Kafka's Uuid.randomUuid(): "-..." reads as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        props = str(self.data_dir / "server.properties")
        # --standalone: a dynamic (KIP-853) quorum whose only voter is this node.
        cmd = self._java_cmd(java, libs, "kafka.tools.StorageTool", "format",
                             "-t", cluster_id, "-c", props, "--standalone")  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if proc.returncode != 0:
            raise BrokerUnavailable(
                f"formatting Kafka storage in {self.data_dir} failed (exit {proc.returncode}):\n"
                f"$ {' '.join(cmd)}\n{_tail_text(proc.stdout + proc.stderr)}\n{self.log_tail()}"
            )

    def _launch(self, java: str, libs: Path) -> None:
        self._out = open(self.data_dir / "kafka.out", "ab")  # noqa: SIM115 -- closed in _reap()
        cmd = self._java_cmd(java, libs, "kafka.Kafka", str(self.data_dir / "server.properties"))
        # Own session: a Ctrl-C in the terminal reaches us, and we shut the broker down cleanly.
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
            cwd=self.data_dir, start_new_session=True,
        )  # fmt: skip

    def _wait_ready(self) -> None:
        assert self._ports is not None and self._proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        last: BaseException | None = None
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="localkafka-probe") as pool:
            while True:
                code = self._proc.poll()
                if code is not None:
                    self._reap()
                    raise BrokerUnavailable(
                        f"the Kafka broker exited with code {code} while starting:\n{self.log_tail()}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stop()
                    raise BrokerUnavailable(
                        f"the Kafka broker at {self.bootstrap} was not ready after "
                        f"{self.start_timeout_s:.0f} s (last probe error: {last!r}):\n{self.log_tail()}"
                    )
                if _port_open(self._ports[0]):
                    # The probe runs on its own loop in a worker thread, so start() also works
                    # when called from code that is already inside a running event loop.
                    timeout = max(1.0, min(10.0, left))
                    try:
                        pool.submit(asyncio.run, _probe(self.bootstrap, timeout)).result(timeout + 5)
                        return
                    except Exception as exc:  # any failure means "not ready yet"; retried until the deadline
                        log.debug("broker %s not ready yet: %r", self.bootstrap, exc)
                        last = exc
                time.sleep(0.2)

    def _reap(self) -> None:
        self._proc = None
        if self._out is not None:
            self._out.close()
            self._out = None


# -- command line --------------------------------------------------------------------------------


@contextlib.contextmanager
def _until_signalled() -> Iterator[threading.Event]:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def bootstrap_servers(partitions: int = 4) -> Iterator[str]:
    """A broker to test or measure against: ``$KAFKA_BOOTSTRAP_SERVERS`` if set, else a LocalKafka
    started here and stopped on exit (the test session and the benchmarks choose alike)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with LocalKafka(partitions=partitions) as kafka:
        yield kafka.bootstrap


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monitor.localkafka", description="A local single-node Kafka broker from Maven jars."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="resolve and cache the broker jars (Maven), print where")
    run = sub.add_parser("run", help="start a broker, print KAFKA_BOOTSTRAP_SERVERS=..., stop on SIGINT/SIGTERM")
    run.add_argument("--partitions", type=int, default=1, help="num.partitions for auto-created topics")
    run.add_argument("--data-dir", type=Path, help="keep data here (default: a temp dir removed at exit)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(ensure_jars())
            return 0
        with (
            _until_signalled() as stop,
            LocalKafka(partitions=args.partitions, data_dir=args.data_dir) as kafka,
        ):
            print(f"KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap}", flush=True)
            print(f"# data dir {kafka.data_dir}, pid {kafka.pid}; Ctrl-C to stop", file=sys.stderr, flush=True)
            while not stop.wait(1.0):
                if not kafka.running:
                    print(f"the broker exited:\n{kafka.log_tail()}", file=sys.stderr)
                    return 1
        return 0
    except (EnvironmentProblem, BrokerUnavailable) as exc:
        print(f"localkafka: error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
