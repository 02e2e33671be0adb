"""A TEST DOUBLE of pycuda.autoinit: initialises the fake driver and makes device 0's context current."""
from . import driver

driver.init()
device = driver.Device(0)
context = device.retain_primary_context()
context.push()
