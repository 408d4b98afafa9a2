# Ask the Python interpreter that builds us where torch lives and whether it was built with CUDA,
# so find_package(Torch) uses exactly the torch the package will import at run time.
execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
          "import torch; print(torch.utils.cmake_prefix_path); print(int(torch.version.cuda is not None))"
  OUTPUT_VARIABLE _torch_info
  OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _torch_rc)
if(NOT _torch_rc EQUAL 0)
  message(FATAL_ERROR "nasfast: cannot import torch with ${Python_EXECUTABLE}; install torch first "
                      "and build with --no-build-isolation")
endif()
string(REPLACE "\n" ";" _torch_info "${_torch_info}")
list(GET _torch_info 0 _torch_prefix)
list(GET _torch_info 1 TORCH_HAS_CUDA)
list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
