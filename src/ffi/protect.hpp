// How the C++ shims (src/optim/*.cpp, src/distributed/c10d.cpp) report to Rust
// (src/ffi/mod.rs): every C function that can fail returns an int status, 0
// for success, and on failure writes the message of what was thrown to an
// out-pointer, `char **error`: one line (up to its first newline: libtorch
// appends its C++ backtrace after it) of at most kMaxMessage bytes, in a
// malloc'd string that Rust frees with tch_lr_free. When even that string
// cannot be allocated, *error stays null and the status is still non-zero:
// a failure never reads as success. Nothing is thrown across the boundary.
#pragma once

#include <c10/util/Exception.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <exception>

namespace tch_lr_ffi {

// The longest message, in bytes; a longer one is cut (at the start of a UTF-8
// character) and ends with "...".
constexpr std::size_t kMaxMessage = 300;

// `text` up to its first newline, at most kMaxMessage bytes, in a malloc'd
// string; nullptr when malloc fails. Allocates nothing else, throws nothing.
inline char *message(const char *text) noexcept {
  if (text == nullptr) text = "unknown C++ exception";
  std::size_t n = std::strcspn(text, "\r\n");
  bool cut = n > kMaxMessage;
  if (cut) {
    n = kMaxMessage - 3;
    // Back to the first byte of a character (not a continuation byte 10xxxxxx).
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  }
  char *out = static_cast<char *>(std::malloc(n + (cut ? 3 : 0) + 1));
  if (out == nullptr) return nullptr;
  std::memcpy(out, text, n);
  if (cut) std::memcpy(out + n, "...", 3);
  out[n + (cut ? 3 : 0)] = '\0';
  return out;
}

// Runs f: 0, or 1 with the one-line message of what it threw in *error
// (nullptr when that string could not be allocated).
template <class F> int protect(char **error, F &&f) noexcept {
  if (error == nullptr) return 1;
  *error = nullptr;
  try {
    f();
    return 0;
  } catch (const c10::Error &e) {
    *error = message(e.what_without_backtrace());
  } catch (const std::exception &e) {
    *error = message(e.what());
  } catch (...) {
    *error = message("unknown C++ exception");
  }
  return 1;
}

} // namespace tch_lr_ffi
