"""A TEST DOUBLE of pycuda.driver: device memory is a dict of host buffers keyed by fake addresses.

Contexts follow real pycuda (src/cpp/cuda.hpp) and the CUDA driver, per thread:
- each thread has CUDA's current-context stack and pycuda's own context stack; `Context.push()` pops
  the previous pycuda context off CUDA's stack and pushes this one; `Context.pop()` raises LogicError
  when this thread's pycuda stack is empty;
- `Device.retain_primary_context()` retains the device's primary context (cuDevicePrimaryCtxRetain):
  RETAINS counts the retains not yet released; the context is active while that count is above 0;
- `Context.detach()` releases it (cuDevicePrimaryCtxRelease) and pops it off pycuda's stack when it is
  this thread's current context; when it is not, it pushes it onto CUDA's stack, releases it, and
  leaves it current (pycuda's "pop is implicit in detach" holds for cuCtxDetach, not for a primary
  context); and from a thread other than the one that retained it, it does NOTHING (the release is
  skipped, the context leaks). Detaching twice raises LogicError;
- memory, stream and copy calls need an active current context (LogicError otherwise);
  DeviceAllocation.free() activates the allocation's context as pycuda does: LogicError for a dead
  context, or for one that is not current in a thread other than its own. A page-locked array is freed
  when it is garbage-collected, the same way, except that pycuda swallows the error: one collected
  after its context was detached, or in another thread where that context is not current, is never
  freed (LEAKED_PINNED counts them; pycuda warns only for the second).
Calls are recorded in CALLS.

Streams behave like CUDA streams: memcpy_htod_async / memcpy_dtoh_async with a Stream (and the
TensorRT double's execute_async_v3 given its `handle`) only ENQUEUE their work; a stream's work runs
in order when its `synchronize()` is called, and a copy reads its source then (as an async copy from
page-locked memory does), not when it was enqueued. stream=None is pycuda's default (handle 0, CUDA's
legacy NULL stream, which waits for the work of every other stream): here the other streams' pending
work runs first and the copy then runs at once.

Time is a simulated device clock (CLOCK_MS, test-only): each work item advances it by DURATIONS_MS[kind]
when it runs ("htod", "dtoh", and the TensorRT double's "execute"; 0 unless a test sets them), so work
takes known times. Events follow pycuda's Event: `Event(flags=0)` needs a current context; `record(stream
=None)` enqueues the recording point and returns self; the event is reached (stamped with the clock) when
the stream's work before it has run; `synchronize()` runs that work and returns self; `query()`;
`end.time_since(start)` and `start.time_till(end)` in ms raise LogicError unless both events were reached
(and were made without event_flags.DISABLE_TIMING).
"""
import itertools
import os
import threading
import weakref

import numpy as np

_FLAVOUR = os.environ.get("EDGESEG_TRT_DOUBLE", "10.3")
CALLS = []
MEMORY = {}  # address -> uint8 buffer ("device memory")
RETAINS = {}  # device ordinal -> primary-context retains not yet released
STREAMS = weakref.WeakValueDictionary()  # handle -> Stream
LEAKED_PINNED = []  # "dead context" or "out-of-thread context": page-locked arrays pycuda could not free
CLOCK_MS = [0.0]  # the simulated device clock
DURATIONS_MS = {"htod": 0.0, "dtoh": 0.0, "execute": 0.0}  # what each kind of work takes on that clock
_ADDRESSES = itertools.count(0x7F0000000000, 0x100000)
_THREAD = threading.local()
_INITIALIZED = []


class Error(Exception):
    pass


class LogicError(Error):
    pass


def _stacks():
    """This thread's (CUDA current-context stack of device ordinals, pycuda context stack)."""
    if not hasattr(_THREAD, "cuda"):
        _THREAD.cuda, _THREAD.pycuda = [], []
    return _THREAD.cuda, _THREAD.pycuda


def context_stacks():
    """Test-only: this thread's CUDA current-context stack (device ordinals) and pycuda context stack."""
    cuda, stack = _stacks()
    return list(cuda), list(stack)


def _current(call):
    cuda, _ = _stacks()
    if not cuda or RETAINS.get(cuda[-1], 0) <= 0:
        raise LogicError("{} failed: invalid device context (test double: no active current context)".format(call))


def init(flags=0):
    CALLS.append("init")
    _INITIALIZED.append(True)


class Context:
    def __init__(self, device):
        self._device, self._valid, self._thread = device, True, threading.get_ident()

    def push(self):
        cuda, stack = _stacks()
        if stack:
            cuda.pop()  # prepare_context_switch
        cuda.append(self._device)
        stack.append(self)

    @staticmethod
    def pop():
        cuda, stack = _stacks()
        if not stack:
            raise LogicError("context::pop failed: cannot pop non-current context")
        cuda.pop()
        stack.pop()
        if stack:
            cuda.append(stack[-1]._device)

    def detach(self):
        CALLS.append("Context.detach")
        if not self._valid:
            raise LogicError("context::detach failed: cannot detach from invalid context")
        cuda, stack = _stacks()
        active = _current_context() is self
        if active:
            RETAINS[self._device] -= 1
        elif self._thread == threading.get_ident():
            cuda.append(self._device)  # cuCtxPushCurrent, then the release, which does not pop
            RETAINS[self._device] -= 1
        # else: another thread's context: pycuda skips the release
        self._valid = False
        if active:
            while stack and (stack[-1] is self or not stack[-1]._valid):
                stack.pop()
            if stack:
                cuda.append(stack[-1]._device)


def _current_context():
    _, stack = _stacks()
    while stack and not stack[-1]._valid:
        stack.pop()
    return stack[-1] if stack else None


class Device:
    def __init__(self, ordinal):
        if not _INITIALIZED:
            raise LogicError("cuDeviceGet failed: initialization error (test double: call init() first)")
        self.ordinal = ordinal

    def name(self):
        return {"8.5": "Xavier (test double)", "11": "Thor (test double)"}.get(_FLAVOUR, "Orin (test double)")

    def compute_capability(self):
        return {"8.5": (7, 2), "11": (11, 0)}.get(_FLAVOUR, (8, 7))

    def retain_primary_context(self):
        CALLS.append("Device.retain_primary_context")
        RETAINS[self.ordinal] = RETAINS.get(self.ordinal, 0) + 1
        return Context(self.ordinal)


class DeviceAllocation:
    def __init__(self, nbytes):
        self._context = _current_context()
        self.address = next(_ADDRESSES)
        MEMORY[self.address] = np.zeros(int(nbytes), np.uint8)

    def __int__(self):
        return self.address

    def free(self):
        context = self._context
        if context is not None and not context._valid:
            raise LogicError("scoped_context_activation failed: cannot activate dead context")
        switch = context is not None and _current_context() is not context
        if switch and context._thread != threading.get_ident():
            raise LogicError("cannot activate out-of-thread context")
        if switch:
            context.push()
        try:
            _current("cuMemFree")
            MEMORY.pop(self.address, None)
        finally:
            if switch:
                Context.pop()


class Stream:
    def __init__(self):
        _current("cuStreamCreate")
        self.handle = next(_ADDRESSES)
        self.pending = []  # callables, in enqueue order
        STREAMS[self.handle] = self

    def synchronize(self):
        CALLS.append("Stream.synchronize")
        while self.pending:
            self.pending.pop(0)()

    def is_done(self):
        return not self.pending


def enqueue(stream_handle, work, kind=None):
    """Run `work` (a callable) on the stream with this handle: at its synchronize(), after the work
    already queued there; handle 0 (the legacy NULL stream) runs every stream's pending work, then `work`.
    Running it advances CLOCK_MS by DURATIONS_MS[kind]. False for a handle that is no stream (an invalid
    stream: CUDA's error, TensorRT's False)."""
    if kind is not None:
        work = _timed(work, kind)
    handle = int(stream_handle)
    if handle == 0:
        for stream in list(STREAMS.values()):
            stream.synchronize()
        work()
        return True
    stream = STREAMS.get(handle)
    if stream is None:
        return False
    stream.pending.append(work)
    return True


def _timed(work, kind):
    def run():
        work()
        CLOCK_MS[0] += DURATIONS_MS[kind]

    return run


class event_flags:  # noqa: N801 (pycuda's name)
    DEFAULT, BLOCKING_SYNC, DISABLE_TIMING, INTERPROCESS = 0, 1, 2, 4


class Event:
    def __init__(self, flags=0):
        _current("cuEventCreate")
        self._flags = flags
        self._stamp = None  # the work that stamps it, while queued
        self._reached = None  # CLOCK_MS when reached

    def record(self, stream=None):
        _current("cuEventRecord")
        CALLS.append("Event.record")
        self._reached = None

        def stamp():
            self._reached = CLOCK_MS[0]

        self._stamp = stamp
        if not enqueue(0 if stream is None else stream.handle, stamp):
            raise LogicError("cuEventRecord failed: invalid resource handle (test double)")
        return self

    def synchronize(self):
        for stream in list(STREAMS.values()):
            while self._reached is None and self._stamp in stream.pending:
                stream.pending.pop(0)()
        return self

    def query(self):
        return self._reached is not None

    def time_since(self, event):
        """ms from `event` to self: end.time_since(start)."""
        for e in (self, event):
            if e._reached is None or e._flags & event_flags.DISABLE_TIMING:
                raise LogicError("cuEventElapsedTime failed: invalid value (test double: an event not reached "
                                 "or made without timing)")
        return self._reached - event._reached

    def time_till(self, event):
        """ms from self to `event`: start.time_till(end)."""
        return event.time_since(self)


def mem_alloc(nbytes):
    _current("cuMemAlloc")
    return DeviceAllocation(nbytes)


def pagelocked_empty(shape, dtype):
    _current("cuMemHostAlloc")
    array = np.empty(shape, dtype)
    weakref.finalize(array, _free_pinned, _current_context())
    return array


def _free_pinned(context):
    """pagelocked_host_allocation::free at garbage collection (CUDAPP_CATCH_CLEANUP_ON_DEAD_CONTEXT)."""
    if context is None:
        return
    if not context._valid:
        LEAKED_PINNED.append("dead context")
    elif _current_context() is not context and context._thread != threading.get_ident():
        LEAKED_PINNED.append("out-of-thread context")


def _contiguous(array, writable=False):
    array = np.asarray(array)
    if not (array.flags.c_contiguous or array.flags.f_contiguous) or (writable and not array.flags.writeable):
        raise TypeError("pycuda needs a contiguous{} buffer (test double)".format(" writable" if writable else ""))
    return array


def memcpy_htod_async(dest, src, stream=None):
    _current("cuMemcpyHtoDAsync")
    address, source = int(dest), _contiguous(src)

    def copy():
        data = source.reshape(-1, order="A").view(np.uint8)
        MEMORY[address][:data.size] = data

    if not enqueue(0 if stream is None else stream.handle, copy, "htod"):
        raise LogicError("cuMemcpyHtoDAsync failed: invalid stream (test double)")


def memcpy_dtoh_async(dest, src, stream=None):
    _current("cuMemcpyDtoHAsync")
    address, target = int(src), _contiguous(dest, writable=True)
    view = target.reshape(-1, order="A").view(np.uint8)  # a view of `dest`: written when the copy runs

    def copy():
        view[:] = MEMORY[address][:view.size]

    if not enqueue(0 if stream is None else stream.handle, copy, "dtoh"):
        raise LogicError("cuMemcpyDtoHAsync failed: invalid stream (test double)")
