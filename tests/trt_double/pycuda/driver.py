"""A TEST DOUBLE of pycuda.driver: device memory is a dict of host buffers keyed by fake addresses.
Memory calls need a pushed context (LogicError otherwise), as in CUDA; calls are recorded in CALLS."""
import itertools
import os

import numpy as np

_V10 = not os.environ.get("EDGESEG_TRT_DOUBLE", "10").startswith("8")
CALLS = []
MEMORY = {}  # address -> uint8 buffer ("device memory")
CONTEXTS = []  # the context stack
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

    def synchronize(self):
        CALLS.append("Stream.synchronize")


def mem_alloc(nbytes):
    _current()
    return DeviceAllocation(nbytes)


def pagelocked_empty(shape, dtype):
    return np.empty(shape, dtype)


def memcpy_htod_async(dest, src, stream=None):
    _current()
    data = np.ascontiguousarray(src).view(np.uint8).ravel()
    MEMORY[int(dest)][:data.size] = data


def memcpy_dtoh_async(dest, src, stream=None):
    _current()
    view = dest.reshape(-1).view(np.uint8)
    view[:] = MEMORY[int(src)][:view.size]
