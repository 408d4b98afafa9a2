// The extension module `nasfast._C`. Importing it loads this library, whose static initialisers
// register every op (TORCH_LIBRARY_FRAGMENT / TORCH_LIBRARY_IMPL in csrc/ops). It has no Python
// functions of its own: ops are reached through torch.ops.nasfast.*.
#include <Python.h>
#include <torch/library.h>

TORCH_LIBRARY(nasfast, m) {}

extern "C" PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
