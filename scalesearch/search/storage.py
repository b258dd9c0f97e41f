"""Where a study lives: Optuna storage from a URL, and recovery of trials whose worker died.

- default: a journal file in the run directory (safe for several processes on one host);
- `journal:PATH`: a journal file elsewhere (e.g. on a shared disk);
- `sqlite:///...`, `postgresql://...`, `mysql://...`: Optuna's RDB storage.  PostgreSQL is
  for many hosts: heartbeats let any worker fail a trial whose worker stopped beating.
- `grpc://HOST:PORT`: Optuna's gRPC storage proxy (`scalesearch storage-proxy`, in front of
  an RDB storage), so that many workers share a few database connections.  It passes no
  heartbeats; the leases below recover a dead worker's trial there.

Journal files have no heartbeat, so each trial carries its owner (host, pid) and a lease
that its worker renews while it trains.  `reap_stale_trials` fails a RUNNING trial whose
owner process is gone (same host) or whose lease has run out (any host); the caller then
re-runs that point.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import warnings
from pathlib import Path
from typing import Callable, TypeVar
from urllib.parse import urlsplit, urlunsplit

import optuna
from optuna.trial import FrozenTrial, TrialState

from scalesearch.compat import heartbeat_thread, study_storage, trial_id
from scalesearch.errors import UserError
from scalesearch.files import repair_torn_tail

LEASE_SECONDS = 120.0  # a worker renews its lease every LEASE_SECONDS / 4
MAX_CLOCK_SKEW = 600.0  # a lease further ahead than LEASE_SECONDS + this came from a clock we cannot trust
SETUP_ATTEMPTS = 6
OUTAGE_SECONDS = 120.0  # how long a worker waits out an unreachable database
HEARTBEAT_SECONDS = 20  # RDB heartbeat; grace period is 3x this


T = TypeVar("T")


class StorageError(UserError):
    """A storage URL that cannot be opened."""


REDACTED = "***"


def redact(url: str | None) -> str | None:
    """`url` with its password replaced by *** — what every file and line shows of a storage
    URL (run.json, best.json, the study's own record, the terminal)."""
    if not url or "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{parts.netloc.rpartition('@')[2]}"))


def _unredacted(url: str) -> str:
    """A URL whose password was redacted, without it: the driver then takes the password from
    the environment (PGPASSWORD) or ~/.pgpass, as libpq does."""
    parts = urlsplit(url)
    if parts.password != REDACTED:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}@{parts.netloc.rpartition('@')[2]}"))


def open_storage(url: str | None, run_dir: Path) -> optuna.storages.BaseStorage:
    """An Optuna storage for `url` (None = a journal file in `run_dir`).  A redacted password
    (`***`, as run.json records it) is left out: the driver reads PGPASSWORD or ~/.pgpass."""
    if not url:
        return _journal(run_dir / "study.journal")
    if url.startswith("journal:"):
        return _journal(Path(url.removeprefix("journal:")))
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme == "grpc":
        return _grpc(url)
    if scheme not in ("sqlite", "postgresql", "postgres", "mysql"):
        raise StorageError(f"{{storage}} {redact(url)!r}: use sqlite:///FILE, postgresql://HOST/DB, "
                           "mysql://HOST/DB, grpc://HOST:PORT or journal:PATH")
    url = _unredacted(url)
    if scheme == "postgres":
        url = "postgresql" + url[len("postgres"):]
    engine_kwargs: dict = {"pool_pre_ping": True}
    if scheme in ("postgresql", "postgres"):
        # Fail fast on an unreachable server; keep few connections per worker.
        engine_kwargs.update(connect_args={"connect_timeout": 5}, pool_size=2, max_overflow=2)
    heartbeat = {}
    if scheme != "sqlite":
        heartbeat = dict(heartbeat_interval=HEARTBEAT_SECONDS, grace_period=3 * HEARTBEAT_SECONDS)
    for attempt in range(SETUP_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
        except Exception as error:  # SQLAlchemy / driver errors: name the server, no traceback
            # Two workers creating Optuna's tables in one fresh database at once: the second
            # sees the first's half-made schema (a duplicate key); once it is made, it opens.
            if _is_setup_race(error) and attempt + 1 < SETUP_ATTEMPTS:
                time.sleep(0.5 * (attempt + 1))
                continue
            raise StorageError(f"cannot open {{storage}} {_where(url)}: {_first_line(error)}") from None


GRPC_WAIT_SECONDS = 20.0


def _grpc(url: str) -> optuna.storages.BaseStorage:
    """A client of `scalesearch storage-proxy` (Optuna's gRPC proxy, experimental since 4.2)."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise StorageError(f"{{storage}} {url!r}: give the proxy's address as grpc://HOST:PORT")
    try:
        import grpc  # noqa: F401  (the proxy's transport)
    except ImportError:
        raise StorageError("{storage} grpc://... needs grpcio: pip install 'scalesearch[grpc]'") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        proxy = optuna.storages.GrpcStorageProxy(host=parts.hostname, port=parts.port)
    try:
        proxy.wait_server_ready(timeout=GRPC_WAIT_SECONDS)
    except Exception:  # grpc's FutureTimeoutError and friends
        raise StorageError(f"cannot reach the storage proxy at {parts.hostname}:{parts.port} (waited "
                           f"{GRPC_WAIT_SECONDS:.0f} s); is `scalesearch storage-proxy` running there?") from None
    return proxy


def serve_proxy(url: str, host: str, port: int) -> None:
    """Run Optuna's gRPC storage proxy in front of the RDB storage at `url` until interrupted."""
    storage = open_storage(url, Path("."))
    if not isinstance(storage, optuna.storages.RDBStorage):
        raise StorageError("{storage}: the gRPC proxy serves an RDB storage (postgresql://, mysql://, sqlite:///); "
                           "Optuna's proxy does not support journal files")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # get_storage adds Optuna's in-process cache, without which the proxy is slow
        optuna.storages.run_grpc_proxy_server(optuna.storages.get_storage(storage), host=host, port=port)


def _journal(path: Path) -> optuna.storages.JournalStorage:
    """A journal file's storage; a torn last record (a kill or a full disk mid-write) is set
    aside first, under the journal's own lock, so the study goes on from every complete one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = optuna.storages.journal.JournalFileSymlinkLock(str(path))
        backend = optuna.storages.journal.JournalFileBackend(str(path), lock_obj=lock)
        if lock.acquire():
            try:
                note = repair_torn_tail(path)
            finally:
                lock.release()
            if note:
                warnings.warn(note, TornRecordWarning, stacklevel=2)
        return optuna.storages.JournalStorage(backend)
    except OSError as error:
        raise StorageError(f"cannot open journal file {path}: {error.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise StorageError(f"{path} is not an Optuna journal (a record in it is not JSON); "
                           "use another {out} or {storage}") from None


class TornRecordWarning(UserWarning):
    """A torn record was set aside (the message says where)."""


def _is_setup_race(error: Exception) -> bool:
    text = str(getattr(error, "orig", None) or error).lower()
    return any(words in text for words in ("duplicate key", "already exists", "unique constraint",
                                           "deadlock detected"))


def retrying(call: Callable[[], T], what: str = "the study's storage") -> T:
    """`call()`, retried with backoff while the storage is unreachable (a database restart,
    a dropped connection), for up to OUTAGE_SECONDS; then one line saying so."""
    deadline, pause = time.monotonic() + OUTAGE_SECONDS, 1.0
    while True:
        try:
            return call()
        except (optuna.exceptions.StorageInternalError, *_sql_errors()) as error:
            if time.monotonic() > deadline:
                raise StorageError(f"lost {what} for over {OUTAGE_SECONDS:.0f} s ({_first_line(error)}); "
                                   "the running unit will be re-run by the next worker; rerun to resume") from None
            time.sleep(pause)
            pause = min(pause * 2, 15.0)


def _sql_errors() -> tuple[type[BaseException], ...]:
    try:
        from sqlalchemy.exc import DBAPIError, OperationalError
    except ImportError:
        return ()
    return (OperationalError, DBAPIError)


def _where(url: str) -> str:
    parts = urlsplit(url)
    if parts.hostname:
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 5432}{parts.path}"
    return url


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return text[0] if text else type(error).__name__


# -- ownership, leases and stale trials ----------------------------------------------------

def owner_attrs() -> dict[str, object]:
    """Who trains a trial and until when, in the order to write them: the lease first.

    Each attribute is its own write, so another worker may read the trial between them;
    a lease with no owner yet, or an owner with no lease yet, is judged by start time.
    """
    return {"lease_until": time.time() + LEASE_SECONDS, "owner_host": socket.gethostname(),
            "owner_pid": os.getpid()}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (a child that died but was not reaped) counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def is_stale(trial: FrozenTrial, now: float | None = None) -> bool:
    """A RUNNING trial whose worker is gone: dead pid on this host, or lease run out."""
    if trial.state != TrialState.RUNNING:
        return False
    attrs, now = trial.user_attrs, now or time.time()
    if "owner_pid" not in attrs or "lease_until" not in attrs:
        # Not yet claimed, or its owner's attributes half written: stale once clearly abandoned.
        start = trial.datetime_start.timestamp() if trial.datetime_start else now
        return now - start > LEASE_SECONDS
    if attrs.get("owner_host") == socket.gethostname() and not _pid_alive(int(attrs["owner_pid"])):
        return True
    try:
        lease = float(attrs["lease_until"])
    except (TypeError, ValueError):
        return True  # not a time: nothing vouches for the owner
    # A lease no clock within MAX_CLOCK_SKEW of ours could have written (a skewed or
    # tampered clock, or inf) used to block every worker forever without a line; it vouches
    # for nothing.  The cost of being wrong: a live owner's unit trained once more.
    if not math.isfinite(lease) or lease > now + LEASE_SECONDS + MAX_CLOCK_SKEW:
        return True
    return now > lease


def reap_stale_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Mark stale RUNNING trials FAIL (so their points are re-run); return them."""
    reaped = []
    if isinstance(study_storage(study), optuna.storages.RDBStorage):
        optuna.storages.fail_stale_trials(study)  # heartbeats, where the storage has them
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("owner_pid") == os.getpid() and trial.user_attrs.get(
                "owner_host") == socket.gethostname():
            continue  # our own
        if is_stale(trial):
            try:
                # The reason first: a finished trial takes no more attributes.
                study_storage(study).set_trial_user_attr(trial_id(trial), "failed_reason", "worker died")
                study_storage(study).set_trial_state_values(trial_id(trial), TrialState.FAIL)
                reaped.append(trial)
            except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
                pass  # another worker reaped it first, or it just finished
    return reaped


class LeaseKeeper:
    """Renews a trial's lease from a background thread while its worker trains."""

    def __init__(self, study: optuna.Study, trial: optuna.Trial):
        self._storage, self._trial_id = study_storage(study), trial_id(trial)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        # RDB storages also get Optuna's own heartbeat, which `study.optimize` would start
        # but ask/tell does not; other workers' fail_stale_trials then see a dead worker.
        self._heartbeat = heartbeat_thread(self._trial_id, self._storage)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        self._heartbeat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._heartbeat.join()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 4):
            try:
                self._storage.set_trial_user_attr(self._trial_id, "lease_until",
                                                  time.time() + LEASE_SECONDS)
            except Exception:  # a finished trial or a storage hiccup: the next renewal retries
                pass
