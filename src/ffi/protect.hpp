// C++ exceptions never cross into Rust: the shim's C functions (src/optim/*.cpp,
// src/distributed/c10d.cpp) run their body through `protect`, which returns
// nullptr on success or what was thrown as one line in a malloc'd string
// (freed from Rust with tch_lr_free).
#pragma once

#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace tch_lr_ffi {

// `text` up to its first newline (libtorch appends its C++ backtrace after
// it), in a malloc'd string.
inline char *message(const std::string &text) {
  std::string line = text.substr(0, text.find('\n'));
  char *out = static_cast<char *>(std::malloc(line.size() + 1));
  if (out != nullptr) std::memcpy(out, line.c_str(), line.size() + 1);
  return out;
}

// Runs f; nullptr, or the one-line message of what it threw.
template <class F> char *protect(F f) {
  try {
    f();
    return nullptr;
  } catch (const c10::Error &e) {
    return message(e.what_without_backtrace());
  } catch (const std::exception &e) {
    return message(e.what());
  } catch (...) {
    return message("unknown C++ exception");
  }
}

} // namespace tch_lr_ffi
