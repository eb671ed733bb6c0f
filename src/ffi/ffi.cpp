// What every C++ shim shares with Rust (src/ffi/mod.rs): the function that
// frees the strings and buffers the shims malloc, and the names of the
// optimizer kinds by number, which Rust's unit test compares with its own.
// Compiled by build.rs with the other shims.

#include "kind.hpp"

#include <cstdint>
#include <cstdlib>

extern "C" {

// Frees a string or buffer a shim function returned (malloc'd).
void tch_lr_free(void *p) { std::free(p); }

// The name of optimizer kind `kind` (a static string), or nullptr when no
// kind has that number.
const char *tch_lr_optimizer_kind_name(std::int32_t kind) {
  return tch_lr_ffi::is_kind(kind) ? tch_lr_ffi::kind_name(static_cast<tch_lr_ffi::Kind>(kind)) : nullptr;
}
}
