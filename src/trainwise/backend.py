"""The array namespace, the default dtype and the random generators.

Every array call in trainwise goes through ``xp`` so that CuPy can stand in
for NumPy later without touching the ops. Randomness comes from explicit
``numpy.random.Generator`` objects; ``manual_seed`` reseeds the default one,
so that a seeded run draws the same numbers bit for bit on the same machine.
"""
from __future__ import annotations

import os
import queue
import threading

import numpy

xp = numpy

_default_dtype = xp.dtype(xp.float32)
_FLOAT_DTYPES = (xp.dtype(xp.float16), xp.dtype(xp.float32), xp.dtype(xp.float64))


def get_default_dtype():
    """The floating dtype new tensors and parameters get (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the floating dtype for new tensors and parameters (float32 or float64)."""
    global _default_dtype
    d = xp.dtype(dtype)
    if d not in _FLOAT_DTYPES:
        raise ValueError(
            f"set_default_dtype: 'dtype' must be one of float16, float32, float64; got {dtype!r}"
        )
    _default_dtype = d


def is_floating(dtype) -> bool:
    return xp.dtype(dtype).kind == "f"


class Generator:
    """A seeded random generator, in the spirit of ``torch.Generator``.

    Wraps ``numpy.random.Generator(PCG64(seed))``. ``get_state``/``set_state``
    give a JSON-serializable state, which checkpoints store so that a resumed
    run draws the numbers an uninterrupted one would.
    """

    __slots__ = ("rng", "_seed")

    def __init__(self, seed: int | None = None):
        self.manual_seed(seed if seed is not None else 0)

    def manual_seed(self, seed: int) -> "Generator":
        if isinstance(seed, bool) or not isinstance(seed, (int, numpy.integer)) or seed < 0:
            raise ValueError(f"manual_seed: 'seed' must be a non-negative int; got {seed!r}")
        self._seed = int(seed)
        self.rng = numpy.random.Generator(numpy.random.PCG64(self._seed))
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return {"seed": self._seed, "bit_generator": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        try:
            seed = int(state["seed"])
            self.rng.bit_generator.state = state["bit_generator"]  # raises before any change if malformed
            self._seed = seed
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"Generator.set_state: 'state' is not a generator state ({e})") from None

    # the draws trainwise needs, delegated so callers never touch numpy's API directly
    def normal(self, loc=0.0, scale=1.0, size=None):
        return self.rng.normal(loc, scale, size)

    def uniform(self, low=0.0, high=1.0, size=None):
        return self.rng.uniform(low, high, size)

    def random(self, size=None, dtype=numpy.float64):
        return self.rng.random(size, dtype=dtype)

    def integers(self, low, high=None, size=None):
        return self.rng.integers(low, high, size)

    def permutation(self, n):
        return self.rng.permutation(n)

    def spawn_seed(self) -> int:
        """A fresh seed drawn from this generator (for seeding workers or sub-generators)."""
        return int(self.rng.integers(0, 2**62))


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Reseed the default generator, like ``torch.manual_seed``. Returns it."""
    return default_generator.manual_seed(seed)


def get_generator(generator: Generator | None) -> Generator:
    """``generator`` if one was given, else the default generator."""
    return default_generator if generator is None else generator


# ----------------------------------------------------------------- BLAS threads
_blas = None


def blas_controllers() -> tuple:
    """threadpoolctl's controllers of NumPy's own BLAS (not another library's, e.g. PyTorch's, loaded
    in the same process), found once; () when threadpoolctl is missing or cannot read the BLAS."""
    global _blas
    if _blas is None:
        _blas = ()
        try:
            from threadpoolctl import ThreadpoolController

            libs = ThreadpoolController().select(user_api="blas").lib_controllers
            mine = [c for c in libs if "numpy" in os.path.basename(os.path.dirname(c.filepath))]
            _blas = tuple(mine or libs)
        except Exception:  # missing, or a BLAS threadpoolctl cannot drive: leave the threads alone
            _blas = ()
    return _blas


# OpenBLAS's worker threads, after a threaded call, spin for 2^THREAD_TIMEOUT cycles
# (28 by default: ~0.1 s) before they sleep, keeping the other core busy. The optimizer's
# ranges on worker threads (``Optimizer.threads = None``, the default) run right after the backward's
# threaded products and lost that core to the spin: with the spin cut to 2^20 cycles
# (~0.4 ms, still longer than the gaps between a step's products) the large MLP's Adam
# step at two threads took 27.8-29.7 ms with the optimizer on both threads against
# 29.4-34.8 ms before (three interleaved runs each, quiet machine), and the products alone
# were no slower. Done only when asked for (``shorten_blas_spin``), as it changes NumPy's
# BLAS for the whole process: by the optimizer (``threads = None``, its default) at the
# first step that has a parameter of ``Optimizer.thread_min_elements`` or more to update
# while NumPy's BLAS has more than one thread.
BLAS_SPIN_LOG2_CYCLES = 20
_spin_shortened = None


def shorten_blas_spin() -> bool:
    """Cut OpenBLAS's idle spin to 2^BLAS_SPIN_LOG2_CYCLES cycles, once; True if it is short now.

    OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` (log2 of the cycles) when it starts its
    worker threads. NumPy has loaded it by now, so the variable is set, OpenBLAS re-reads
    its environment (``openblas_read_env``) and its workers are stopped
    (``blas_thread_shutdown_``, what OpenBLAS itself does at ``fork``): the next threaded
    call starts them again with the new timeout. Nothing is done when the user set
    ``OPENBLAS_THREAD_TIMEOUT`` (their value stands, and counts as short when ≤ 24) or when
    NumPy's BLAS is not an OpenBLAS with these entry points. The numbers are unchanged.
    """
    if _spin_shortened is None:
        blas_controllers()
        _shorten_spin()
    return _spin_shortened


def _shorten_spin() -> None:
    global _spin_shortened
    _spin_shortened = False
    user = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
    if user is not None:
        _spin_shortened = user.strip().isdigit() and int(user) <= 24
        return
    try:
        import ctypes

        libs = [c for c in (_blas or ()) if getattr(c, "internal_api", "") == "openblas"]
        if not libs:
            return
        lib = ctypes.CDLL(libs[0].filepath)
        read_env, shutdown = lib.openblas_read_env, lib.blas_thread_shutdown_
        timeout = lib.openblas_thread_timeout
    except Exception:  # not OpenBLAS, or a build without these entry points
        return
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(BLAS_SPIN_LOG2_CYCLES)
    read_env()
    if timeout() != BLAS_SPIN_LOG2_CYCLES:
        return
    shutdown()
    _spin_shortened = True


def blas_threads() -> int:
    """How many threads NumPy's BLAS may use now (``openblas_get_num_threads`` through
    threadpoolctl, ~1 µs): the thread budget the user set (``threadpool_limits``,
    ``OMP_NUM_THREADS``, ...). 1 when it cannot be read."""
    libs = blas_controllers()
    try:
        return max(1, min(c.get_num_threads() or 1 for c in libs)) if libs else 1
    except Exception:
        return 1


class one_blas_thread:
    """``with one_blas_thread(active):`` runs the block with NumPy's BLAS on one thread (a no-op
    when ``active`` is false, the BLAS already has one thread, or it cannot be reached) and
    restores the count after. For loops of products too small for a second thread to pay for
    waking it (e.g. the time steps of a recurrent layer). Never raises the count."""

    def __init__(self, active: bool = True):
        self.active = active
        self.saved = []

    def __enter__(self):
        if self.active:
            for c in blas_controllers():
                n = c.get_num_threads()
                if n and n > 1:
                    c.set_num_threads(1)
                    self.saved.append((c, n))
        return self

    def __exit__(self, *exc):
        for c, n in self.saved:
            c.set_num_threads(n)
        self.saved = []
        return False


# OpenBLAS runs a product of m·n·k ≤ 65536·4 multiply-adds on one thread by itself
# (interface/gemm.c: SMP_THRESHOLD_MIN · GEMM_MULTITHREAD_THRESHOLD) and threads the
# larger ones. Once a process has run work on trainwise's own worker threads
# (``run_in_threads``: the convolution's and pooling's image ranges, the optimizer's
# ranges), ``product`` holds the products between that and SMALL_PRODUCT_MACS to one
# thread: the second thread saves little there (a (64, 3136) by (3136, 10) product: 76
# against 110 µs), but once woken OpenBLAS's worker spins on the other core for ~0.1 s
# after the call (its THREAD_TIMEOUT, 2^28 cycles), taking that core from trainwise's
# worker threads for the rest of the step. Processes that never split work (an MLP)
# skip the hold and its ~4 µs.
OPENBLAS_THREADED_MACS = 65536 * 4
SMALL_PRODUCT_MACS = 1 << 22
_own_threads_used = False


def product(a, b):
    """``a @ b``; for 2-D arrays on one BLAS thread when the product has between
    OPENBLAS_THREADED_MACS and SMALL_PRODUCT_MACS multiply-adds and the process has used
    trainwise's worker threads (see there). The same numbers either way."""
    if _own_threads_used and a.ndim == 2 and b.ndim == 2 \
            and OPENBLAS_THREADED_MACS < a.shape[0] * a.shape[1] * b.shape[1] < SMALL_PRODUCT_MACS:
        with one_blas_thread():
            return a @ b
    return a @ b


# ------------------------------------------------------------------ worker threads
class _Pool:
    """Daemon worker threads: ``run(jobs)`` runs ``jobs[0]`` on the caller and ``jobs[j]`` on
    worker j, and returns when all are done (re-raising the first error). NumPy releases the
    GIL inside its array loops and products, so the jobs run at once."""

    def __init__(self):
        self.workers = []
        self.lock = threading.Lock()

    def _work(self, todo, done):
        while True:
            job = todo.get()
            err = None
            try:
                job()
            except BaseException as e:  # handed to the caller, which re-raises it
                err = e
            # drop the job before reporting: held until the next one, its closure would keep the
            # caller's arrays alive (an optimizer step's gradients: +11.6 MiB for the large MLP)
            job = None
            done.put(err)
            err = None

    def run(self, jobs):
        with self.lock:
            while len(self.workers) < len(jobs) - 1:
                todo, done = queue.SimpleQueue(), queue.SimpleQueue()
                threading.Thread(target=self._work, args=(todo, done), daemon=True,
                                 name="trainwise-optim").start()
                self.workers.append((todo, done))
            for (todo, _), job in zip(self.workers, jobs[1:]):
                todo.put(job)
            err = None
            try:
                jobs[0]()
            except BaseException as e:
                err = e
            for _, done in self.workers[: len(jobs) - 1]:
                e = done.get()
                if err is None and e is not None:
                    err = e
            if err is not None:
                raise err

    def reset(self):
        # a forked child has none of the parent's threads
        self.workers = []
        self.lock = threading.Lock()


_POOL = _Pool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL.reset)


def run_in_threads(jobs) -> None:
    """Run ``jobs`` (callables) at once: the first on the caller, the others on worker threads
    kept for the next call (the optimizer's ranges, the convolution's image ranges). The
    caller decides how many, within the thread budget (``blas_threads``). From the first
    call with more than one job on, ``product`` keeps mid-size products on one BLAS thread."""
    global _own_threads_used
    if len(jobs) > 1:
        _own_threads_used = True
    _POOL.run(jobs)
