// The owned optimizer's write path: every parameter group's LR, and
// optionally its momentum (Adam's and AdamW's beta1) and weight decay, written
// into libtorch's group options in one call from Rust (src/optim/owned.rs),
// at the cost of the stores. tch's setters (`ato_set_learning_rate_group`,
// ...) cost a C call and up to four `dynamic_cast`s per group and value; the
// owned optimizer was created by tch-lr (src/optim/owned.rs,
// pytorch_step.cpp), so the options' class is known from `kind` and a
// `static_cast` suffices: each group's options are a clone of the
// constructor's defaults (libtorch's `add_param_group`, torch-sys's
// `ato_add_parameters`), and a loaded state keeps their class.
// Compiled by build.rs with owned.cpp.

#include <torch/optim.h>

#include <cstddef>
#include <tuple>

namespace {

using torch::optim::Optimizer;

// tch-lr's kinds, as src/optim/owned.rs numbers them.
enum Kind { kSgd = 0, kAdam = 1, kAdamW = 2, kRmsProp = 3 };

template <class O> void write_sgd_like(O &o, double lr, const double *m, const double *wd, size_t g) {
  o.lr(lr);
  if (m != nullptr) o.momentum(m[g]);
  if (wd != nullptr) o.weight_decay(wd[g]);
}

template <class O> void write_adam_like(O &o, double lr, const double *m, const double *wd, size_t g) {
  o.lr(lr);
  if (m != nullptr) o.betas(std::make_tuple(m[g], std::get<1>(o.betas())));
  if (wd != nullptr) o.weight_decay(wd[g]);
}

} // namespace

extern "C" {

// Writes group g's LR lr[g] (and momentum[g], weight_decay[g] where those are
// not null) for the n groups of `opt`, an owned optimizer of `kind`. Returns
// the number of groups written: n, or 0 when `opt` has another number of
// groups or `kind` is unknown (nothing is written then). No exception can
// leave it: the setters are stores.
size_t tch_lr_optimizer_write(Optimizer *opt, int kind, size_t n, const double *lr, const double *momentum,
                              const double *weight_decay) {
  auto &groups = opt->param_groups();
  if (groups.size() != n || kind < kSgd || kind > kRmsProp) return 0;
  for (size_t g = 0; g < n; ++g) {
    auto &options = groups[g].options();
    switch (kind) {
    case kSgd:
      write_sgd_like(static_cast<torch::optim::SGDOptions &>(options), lr[g], momentum, weight_decay, g);
      break;
    case kAdam:
      write_adam_like(static_cast<torch::optim::AdamOptions &>(options), lr[g], momentum, weight_decay, g);
      break;
    case kAdamW:
      write_adam_like(static_cast<torch::optim::AdamWOptions &>(options), lr[g], momentum, weight_decay, g);
      break;
    default:
      write_sgd_like(static_cast<torch::optim::RMSpropOptions &>(options), lr[g], momentum, weight_decay, g);
      break;
    }
  }
  return n;
}
}
