// The Python module inverse_mel._C: importing it loads this shared library, which runs the static
// STABLE_TORCH_LIBRARY initialisers of the schemas (inverse_mel.cpp) and the CPU kernels. The module
// uses only CPython's limited API, so one wheel serves every CPython >= 3.10.
#include "shared/nnls_capacity.h"

#include <Python.h>

extern "C" {
PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT,
      "_C",  // name
      "inverse_mel compiled op library; the ops live in torch.ops.inverse_mel",
      -1,  // no per-interpreter state
      nullptr,  // no methods
  };
  PyObject* module = PyModule_Create(&module_def);
  // The CUDA NNLS kernel's capacities, for the Python layer's checks (defined once, in C++).
  if (module != nullptr && (PyModule_AddIntConstant(module, "CUDA_NNLS_MAX_MELS", inverse_mel::nnls::kFrameMaxMels) < 0 ||
                            PyModule_AddIntConstant(module, "CUDA_NNLS_MAX_BANDS", inverse_mel::nnls::kFrameMaxBands) < 0)) {
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}
}
