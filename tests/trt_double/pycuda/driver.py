"""A TEST DOUBLE of pycuda.driver: device memory is a dict of host buffers keyed by fake addresses.
Memory calls need a pushed context (LogicError otherwise), as in CUDA; calls are recorded in CALLS.

Streams behave like CUDA streams: memcpy_htod_async / memcpy_dtoh_async with a Stream (and the
TensorRT double's execute_async_v2/v3 given its `handle`) only ENQUEUE their work; a stream's work runs
in order when its `synchronize()` is called, and a copy reads its source then (as an async copy from
page-locked memory does), not when it was enqueued. So a caller that skips `Stream.synchronize()`
reads a host buffer the copy has not yet reached. stream=None is pycuda's default (handle 0, CUDA's
legacy NULL stream, which waits for the work of every other stream): here the other streams' pending
work runs first and the copy then runs at once (the real NULL-stream copy is asynchronous too; the
double does not model that).
"""
import itertools
import os
import weakref

import numpy as np

_V10 = not os.environ.get("EDGESEG_TRT_DOUBLE", "10").startswith("8")
CALLS = []
MEMORY = {}  # address -> uint8 buffer ("device memory")
CONTEXTS = []  # the context stack
STREAMS = weakref.WeakValueDictionary()  # handle -> Stream
_ADDRESSES = itertools.count(0x7F0000000000, 0x100000)


class LogicError(RuntimeError):
    pass


def _current():
    if not CONTEXTS:
        raise LogicError("no current CUDA context (test double)")


def init(flags=0):
    CALLS.append("init")


class Context:
    def push(self):
        CONTEXTS.append(self)

    @staticmethod
    def pop():
        _current()
        CONTEXTS.pop()

    def detach(self):
        CALLS.append("Context.detach")


class Device:
    def __init__(self, ordinal):
        self.ordinal = ordinal

    def name(self):
        return "Orin (test double)" if _V10 else "Xavier (test double)"

    def compute_capability(self):
        return (8, 7) if _V10 else (7, 2)

    def retain_primary_context(self):
        CALLS.append("Device.retain_primary_context")
        return Context()


class DeviceAllocation:
    def __init__(self, nbytes):
        self.address = next(_ADDRESSES)
        MEMORY[self.address] = np.zeros(int(nbytes), np.uint8)

    def __int__(self):
        return self.address

    def free(self):
        _current()
        MEMORY.pop(self.address, None)


class Stream:
    def __init__(self):
        self.handle = next(_ADDRESSES)
        self.pending = []  # callables, in enqueue order
        STREAMS[self.handle] = self

    def synchronize(self):
        CALLS.append("Stream.synchronize")
        while self.pending:
            self.pending.pop(0)()

    def is_done(self):
        return not self.pending


def enqueue(stream_handle, work):
    """Run `work` (a callable) on the stream with this handle: at its synchronize(), after the work
    already queued there; handle 0 (the legacy NULL stream) runs every stream's pending work, then `work`.
    False for a handle that is no stream (an invalid stream: CUDA's error, TensorRT's False)."""
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


def mem_alloc(nbytes):
    _current()
    return DeviceAllocation(nbytes)


def pagelocked_empty(shape, dtype):
    return np.empty(shape, dtype)


def _contiguous(array, writable=False):
    array = np.asarray(array)
    if not (array.flags.c_contiguous or array.flags.f_contiguous) or (writable and not array.flags.writeable):
        raise TypeError("pycuda needs a contiguous{} buffer (test double)".format(" writable" if writable else ""))
    return array


def memcpy_htod_async(dest, src, stream=None):
    _current()
    address, source = int(dest), _contiguous(src)

    def copy():
        data = source.reshape(-1, order="A").view(np.uint8)
        MEMORY[address][:data.size] = data

    if not enqueue(0 if stream is None else stream.handle, copy):
        raise LogicError("cuMemcpyHtoDAsync failed: invalid stream (test double)")


def memcpy_dtoh_async(dest, src, stream=None):
    _current()
    address, target = int(src), _contiguous(dest, writable=True)
    view = target.reshape(-1, order="A").view(np.uint8)  # a view of `dest`: written when the copy runs

    def copy():
        view[:] = MEMORY[address][:view.size]

    if not enqueue(0 if stream is None else stream.handle, copy):
        raise LogicError("cuMemcpyDtoHAsync failed: invalid stream (test double)")
