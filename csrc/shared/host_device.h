// INVERSE_MEL_HOST_DEVICE marks code that CPU and CUDA share: compiled for the device by nvcc, and
// as plain C++ on the host, where the CPU tests check the very arithmetic the GPU runs.
#pragma once

#ifdef __CUDACC__
#define INVERSE_MEL_HOST_DEVICE __host__ __device__
#else
#define INVERSE_MEL_HOST_DEVICE
#endif
