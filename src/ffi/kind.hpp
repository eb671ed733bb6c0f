// The optimizer kinds, as both sides number them: the values of Rust's
// `tch_lr::groups::OptimizerKind` (`#[repr(i32)]`, src/groups.rs). Rust checks
// the two against each other: its unit test compares every variant's name
// with tch_lr_optimizer_kind_name (src/ffi/ffi.cpp), and each owned optimizer,
// once built, is asked its kind (tch_lr_optimizer_kind, src/optim/owned.cpp:
// a dynamic_cast) and refused unless that is the kind Rust built.
#pragma once

#include <cstdint>

namespace tch_lr_ffi {

enum class Kind : std::int32_t { Sgd = 0, Adam = 1, AdamW = 2, RmsProp = 3 };

// How many kinds there are: they are numbered 0 .. kKinds - 1.
constexpr std::int32_t kKinds = 4;
static_assert(static_cast<std::int32_t>(Kind::Sgd) == 0 && static_cast<std::int32_t>(Kind::Adam) == 1 &&
                  static_cast<std::int32_t>(Kind::AdamW) == 2 && static_cast<std::int32_t>(Kind::RmsProp) == 3 &&
                  kKinds == 4,
              "the kinds are numbered 0 .. kKinds - 1, as src/groups.rs numbers them");

// The names of the kinds, by number, as in tch-lr's configs
// (`OptimizerKind::NAMES`).
constexpr const char *kKindNames[kKinds] = {"sgd", "adam", "adamw", "rmsprop"};

constexpr const char *kind_name(Kind k) { return kKindNames[static_cast<std::int32_t>(k)]; }

// Whether `value` numbers a kind.
constexpr bool is_kind(std::int32_t value) { return value >= 0 && value < kKinds; }

} // namespace tch_lr_ffi
