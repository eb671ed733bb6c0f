// The owned optimizer's write path: every parameter group's LR, and
// optionally its momentum (Adam's and AdamW's beta1), Adam's and AdamW's beta2
// (DeepSpeed's OneCycle sets it) and weight decay, written
// into libtorch's group options in one call from Rust (src/optim/owned.rs,
// through src/ffi/mod.rs), at the cost of the stores. tch's setters
// (`ato_set_learning_rate_group`, ...) cost a C call and up to four
// `dynamic_cast`s per group and value; the owned optimizer was created by
// tch-lr (src/optim/owned.rs, pytorch_step.cpp), so the options' class is
// known from `kind` and a `static_cast` suffices: each group's options are a
// clone of the constructor's defaults (libtorch's `add_param_group`,
// torch-sys's `ato_add_parameters`), and a loaded state keeps their class.
// `kind` is the one tch_lr_optimizer_kind (owned.cpp, a dynamic_cast) gave
// Rust for this optimizer when it was built, numbered as src/ffi/kind.hpp.
// Compiled by build.rs with owned.cpp.

#include <torch/optim.h>

#include "../ffi/kind.hpp"
#include "../ffi/protect.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>

namespace {

using tch_lr_ffi::Kind;
using torch::optim::Optimizer;

// SGD and RMSprop have no beta2: the caller passes none for them.
template <class O> void write_sgd_like(O &o, double lr, const double *m, const double *wd, size_t g) {
  o.lr(lr);
  if (m != nullptr) o.momentum(m[g]);
  if (wd != nullptr) o.weight_decay(wd[g]);
}

// A NaN beta2 is one tch-lr does not know: the group keeps its own.
template <class O>
void write_adam_like(O &o, double lr, const double *m, const double *b2, const double *wd, size_t g) {
  o.lr(lr);
  if (m != nullptr || b2 != nullptr) {
    const auto betas = o.betas();
    const double beta1 = m != nullptr ? m[g] : std::get<0>(betas);
    const double beta2 = b2 != nullptr && !std::isnan(b2[g]) ? b2[g] : std::get<1>(betas);
    o.betas(std::make_tuple(beta1, beta2));
  }
  if (wd != nullptr) o.weight_decay(wd[g]);
}

} // namespace

extern "C" {

// Writes group g's LR lr[g] (and momentum[g], beta2[g], weight_decay[g] where
// those are not null; beta2 for Adam and AdamW only, a NaN skipped) for the n
// groups of `opt`, an owned optimizer of `kind`; each array given holds n
// values. Fails (writing nothing) when `opt` has another number of groups,
// `kind` numbers no kind, or beta2 is given for SGD or RMSprop.
int tch_lr_optimizer_write(Optimizer *opt, std::int32_t kind, size_t n, const double *lr, const double *momentum,
                           const double *beta2, const double *weight_decay, char **error) {
  return tch_lr_ffi::protect(error, [&] {
    auto &groups = opt->param_groups();
    if (groups.size() != n) {
      throw std::invalid_argument(std::to_string(n) + " group values for an optimizer of " +
                                  std::to_string(groups.size()) + " groups");
    }
    if (!tch_lr_ffi::is_kind(kind)) throw std::invalid_argument("no optimizer kind " + std::to_string(kind));
    const auto k = static_cast<Kind>(kind);
    if (beta2 != nullptr && k != Kind::Adam && k != Kind::AdamW) {
      throw std::invalid_argument("beta2 for an optimizer without betas");
    }
    for (size_t g = 0; g < n; ++g) {
      auto &options = groups[g].options();
      switch (k) {
      case Kind::Sgd:
        write_sgd_like(static_cast<torch::optim::SGDOptions &>(options), lr[g], momentum, weight_decay, g);
        break;
      case Kind::Adam:
        write_adam_like(static_cast<torch::optim::AdamOptions &>(options), lr[g], momentum, beta2, weight_decay, g);
        break;
      case Kind::AdamW:
        write_adam_like(static_cast<torch::optim::AdamWOptions &>(options), lr[g], momentum, beta2, weight_decay,
                        g);
        break;
      case Kind::RmsProp:
        write_sgd_like(static_cast<torch::optim::RMSpropOptions &>(options), lr[g], momentum, weight_decay, g);
        break;
      }
    }
  });
}
}
