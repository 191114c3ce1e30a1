"""Where joblib's work runs: on this machine, or on a Dask cluster.

Reference training and submission runs go through joblib. With the `local`
backend they keep joblib's defaults on this machine, exactly as if this module
did not exist. With `dask`, joblib hands its tasks to a Dask cluster
(dask.distributed, an optional dependency): the one whose scheduler is at
`--scheduler ADDRESS`, or a LocalCluster started here on the loopback, one
single-threaded process per job. Results are the same either way: every
reference model and every run takes its seed from its index, never from the
worker it lands on. On GPUs each task asks for one unit of the `GPU` resource,
so that it only runs on a worker started with `--resources GPU=1`, one at a
time per GPU.
"""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
import logging
from types import ModuleType
from typing import Any

from joblib import parallel_config
from joblib.parallel import get_active_backend

from harness.commands.errors import UsageError
from harness.sandbox.protocol import WorkerSetup

BACKENDS = ("local", "dask")
CONNECT_TIMEOUT_S = 10.0
WORKERS_TIMEOUT_S = 300.0  # workers of a batch-queue cluster may take minutes to start
_GPU = {"GPU": 1}
_INSTALL = "pip install 'unlearning-harness[cluster]'"


class BackendUnavailable(UsageError):
    """The chosen backend cannot run: Dask is not installed, or its scheduler or workers cannot be reached."""


@contextmanager
def compute_backend(name: str, scheduler: str | None, jobs: int, gpu: bool) -> Iterator[None]:
    """Run the joblib work inside the block on `name`'s backend.

    `scheduler` (dask only) is the address of a running Dask scheduler; without
    it, `jobs` single-threaded worker processes start here. `gpu`: every task
    needs one GPU (a worker with the `GPU` resource).
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}, expected one of {', '.join(BACKENDS)}")
    if name == "local":
        yield
        return
    with _dask_client(scheduler, jobs, gpu) as client:
        with parallel_config(backend="dask", client=client, **({"resources": _GPU} if gpu else {})):
            yield


def on_dask() -> bool:
    """Whether joblib's active backend sends tasks to a Dask cluster."""
    backend, _ = get_active_backend()
    return type(backend).__name__ == "DaskDistributedBackend"


def _import_distributed() -> ModuleType:
    try:
        import distributed
    except ImportError:
        raise BackendUnavailable(f"--backend dask needs Dask's distributed scheduler, which is not installed: {_INSTALL}") from None
    return distributed


@contextmanager
def _dask_client(scheduler: str | None, jobs: int, gpu: bool) -> Iterator[Any]:
    """A client of the scheduler at `scheduler`, or of a LocalCluster started for the block; closed after it."""
    distributed = _import_distributed()
    _declare_sizes()
    with ExitStack() as stack:
        if scheduler is None:
            target = stack.enter_context(_local_cluster(distributed, jobs, gpu))
            address = target.scheduler_address
        else:
            target = address = _checked_address(scheduler)
        try:
            client = stack.enter_context(distributed.Client(target, timeout=CONNECT_TIMEOUT_S, set_as_default=False))
        except OSError as error:
            raise BackendUnavailable(f"cannot reach the Dask scheduler at {address}: {error} (start one with `dask scheduler`)") from None
        _wait_for_workers(client, address, gpu)
        yield client


def _local_cluster(distributed: ModuleType, jobs: int, gpu: bool) -> Any:
    """`jobs` worker processes with one thread each on the loopback, without memory limit
    (like joblib's local processes); with `gpu`, one worker offering the one GPU that
    every process here sees (several GPUs: start a worker per GPU by hand)."""
    return distributed.LocalCluster(
        n_workers=1 if gpu else jobs,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # a free port: 8787 may be taken
        memory_limit=None,
        silence_logs=logging.ERROR,
        resources=_GPU if gpu else None,
    )


def _checked_address(scheduler: str) -> str:
    """The scheduler's address, its scheme checked (Dask would otherwise fail late and noisily)."""
    from distributed.comm import parse_address
    from distributed.comm.registry import get_backend

    try:
        get_backend(parse_address(scheduler)[0])
    except ValueError as error:
        raise BackendUnavailable(f"{scheduler!r} is not a Dask scheduler address such as tcp://HOST:8786: {error}") from None
    return scheduler


def _wait_for_workers(client: Any, address: str, gpu: bool) -> None:
    """At least one worker, and with `gpu` one offering the GPU resource: otherwise tasks would wait forever."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
    except TimeoutError:
        raise BackendUnavailable(f"no Dask worker joined the scheduler at {address} within {WORKERS_TIMEOUT_S:.0f} s "
                                 f"(start some with `dask worker {address}`)") from None
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    if gpu and not any(worker.get("resources", {}).get("GPU") for worker in workers):
        raise BackendUnavailable(f"no worker of the Dask scheduler at {address} offers a GPU: start one per GPU with "
                                 f"`dask worker {address} --nworkers 1 --nthreads 1 --resources GPU=1`")


def _declare_sizes() -> None:
    """Tell Dask a worker setup's real size (its data and weights): joblib's Dask backend
    then sends it to the cluster once per call instead of inside every task."""
    from dask.sizeof import sizeof

    sizeof.register(WorkerSetup, _setup_bytes)


def _setup_bytes(setup: WorkerSetup) -> int:
    tensors = [part for data in (setup.retain, setup.forget, setup.validation) for part in (data.images, data.labels)]
    return len(setup.source) + sum(map(len, setup.original_weights)) + sum(tensor.nbytes for tensor in tensors)
