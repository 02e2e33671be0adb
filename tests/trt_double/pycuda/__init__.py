"""A TEST DOUBLE of pycuda (see tests/trt_double/tensorrt): it shows the glue runs, not that CUDA works.
Host numpy buffers stand in for device memory."""
VERSION = (2022, 2, 2)
VERSION_TEXT = "2022.2.2 (test double)"
