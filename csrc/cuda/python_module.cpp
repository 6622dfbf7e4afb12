// The Python module inverse_mel._C_cuda: importing it loads this shared library, which runs the
// static STABLE_TORCH_LIBRARY_IMPL initialisers of the CUDA kernels (csrc/cuda/*.cu). It is a
// separate library so that inverse_mel._C links no CUDA library and loads under any torch.
#include <Python.h>

extern "C" {
PyMODINIT_FUNC PyInit__C_cuda(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT,
      "_C_cuda",  // name
      "inverse_mel's CUDA kernels; the ops live in torch.ops.inverse_mel",
      -1,  // no per-interpreter state
      nullptr,  // no methods
  };
  return PyModule_Create(&module_def);
}
}
