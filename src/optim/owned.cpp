// The optimizer state of tch-lr's owned optimizer (src/optim/owned.rs): libtorch's
// own optimizer serialization (`Optimizer::save` / `Optimizer::load`) behind a
// C interface, and each parameter's state tensors one by one (PyTorch's
// `optimizer.state_dict()["state"]`). Compiled by build.rs against the libtorch
// that torch-sys links (libtorch 2.13).
//
// Every function returns 0, or 1 with the one-line message of what was thrown
// in *error (src/ffi/protect.hpp); Rust declares them in src/ffi/mod.rs.
//
// The `torch::optim::Optimizer *` handles are the ones torch-sys's ato_sgd,
// ato_adam, ato_adamw and ato_rms_prop return: torch-sys's libtch/torch_api.h
// declares its C type `optimizer` as `torch::optim::Optimizer *`.

#include <torch/optim.h>
#include <torch/serialize/archive.h>

#include "../ffi/kind.hpp"
#include "../ffi/protect.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

using torch::optim::Optimizer;

// The format of the keys tch-lr adds beside libtorch's own.
constexpr int64_t FORMAT = 1;

using tch_lr_ffi::Kind;
using tch_lr_ffi::kind_name;
using tch_lr_ffi::protect;

// The optimizer's kind (PyTorchAdamW derives from AdamW, PyTorchAdamOnly from
// Adam, PyTorchRMSprop from RMSprop: src/optim/pytorch_step.cpp).
Kind kind_of(Optimizer *opt) {
  if (dynamic_cast<torch::optim::SGD *>(opt) != nullptr) return Kind::Sgd;
  if (dynamic_cast<torch::optim::AdamW *>(opt) != nullptr) return Kind::AdamW;
  if (dynamic_cast<torch::optim::Adam *>(opt) != nullptr) return Kind::Adam;
  if (dynamic_cast<torch::optim::RMSprop *>(opt) != nullptr) return Kind::RmsProp;
  throw std::invalid_argument("not an SGD, Adam, AdamW or RMSprop optimizer");
}

// A parameter's kind and shape, e.g. "Float[64, 3, 3, 3]".
std::string describe(const torch::Tensor &t) {
  std::ostringstream s;
  s << t.scalar_type() << t.sizes();
  return s.str();
}

std::string group_key(size_t g) { return "tch_lr/group/" + std::to_string(g); }

void save(Optimizer *opt, std::vector<char> &bytes) {
  torch::serialize::OutputArchive archive;
  archive.write("tch_lr/format", c10::IValue(FORMAT));
  archive.write("tch_lr/optimizer", c10::IValue(std::string(kind_name(kind_of(opt)))));
  const auto &groups = opt->param_groups();
  archive.write("tch_lr/groups", c10::IValue(static_cast<int64_t>(groups.size())));
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto &params = groups[g].params();
    archive.write(group_key(g) + "/size", c10::IValue(static_cast<int64_t>(params.size())));
    for (size_t i = 0; i < params.size(); ++i) {
      archive.write(group_key(g) + "/" + std::to_string(i), c10::IValue(describe(params[i])));
    }
  }
  opt->save(archive);
  archive.save_to([&bytes](const void *data, size_t n) -> size_t {
    const char *p = static_cast<const char *>(data);
    bytes.insert(bytes.end(), p, p + n);
    return n;
  });
}

c10::IValue read(torch::serialize::InputArchive &archive, const std::string &key) {
  c10::IValue value;
  if (!archive.try_read(key, value)) {
    throw std::invalid_argument("not an optimizer state saved by tch-lr (no " + key + ")");
  }
  return value;
}

// Checks that a state tensor, where defined, matches its parameter.
void check_tensor(const torch::Tensor &state, const torch::Tensor &param, const char *name, size_t g, size_t i) {
  if (state.defined() && (state.sizes() != param.sizes() || state.scalar_type() != param.scalar_type() ||
                          state.device() != param.device())) {
    throw std::invalid_argument("the state's " + std::string(name) + " of parameter " + std::to_string(i) +
                                " of group " + std::to_string(g) + " is " + describe(state) + ", the parameter " +
                                describe(param));
  }
}

// Calls f with the Adam or AdamW state `s` is (two classes in libtorch with
// the same fields); false when it is neither.
template <class F>
bool with_adam_state(const torch::optim::OptimizerParamState *s, F &&f) {
  if (auto *x = dynamic_cast<const torch::optim::AdamParamState *>(s)) {
    f(*x);
    return true;
  }
  if (auto *x = dynamic_cast<const torch::optim::AdamWParamState *>(s)) {
    f(*x);
    return true;
  }
  return false;
}

// The state of each parameter against the parameter, for each optimizer.
void check_state(Optimizer *opt) {
  const auto &groups = opt->param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto &params = groups[g].params();
    for (size_t i = 0; i < params.size(); ++i) {
      auto found = opt->state().find(params[i].unsafeGetTensorImpl());
      if (found == opt->state().end()) continue;
      const auto *s = found->second.get();
      const auto &p = params[i];
      auto adam = [&](const auto &x) {
        check_tensor(x.exp_avg(), p, "exp_avg", g, i);
        check_tensor(x.exp_avg_sq(), p, "exp_avg_sq", g, i);
        check_tensor(x.max_exp_avg_sq(), p, "max_exp_avg_sq", g, i);
      };
      if (auto *x = dynamic_cast<const torch::optim::SGDParamState *>(s)) {
        check_tensor(x->momentum_buffer(), p, "momentum_buffer", g, i);
      } else if (auto *x = dynamic_cast<const torch::optim::RMSpropParamState *>(s)) {
        check_tensor(x->square_avg(), p, "square_avg", g, i);
        check_tensor(x->momentum_buffer(), p, "momentum_buffer", g, i);
        check_tensor(x->grad_avg(), p, "grad_avg", g, i);
      } else {
        with_adam_state(s, adam);
      }
    }
  }
}

// Checks that the archive is tch-lr's, of this kind of optimizer, over
// parameters of the same kinds and shapes in the same groups.
void check_header(Optimizer *opt, torch::serialize::InputArchive &archive) {
  int64_t format = read(archive, "tch_lr/format").toInt();
  if (format != FORMAT) {
    throw std::invalid_argument("optimizer state format " + std::to_string(format) + ", expected " +
                                std::to_string(FORMAT));
  }
  std::string saved = read(archive, "tch_lr/optimizer").toStringRef();
  std::string kind = kind_name(kind_of(opt));
  if (saved != kind) {
    throw std::invalid_argument("the optimizer state is " + saved + "'s, this optimizer is " + kind);
  }
  const auto &groups = opt->param_groups();
  int64_t n = read(archive, "tch_lr/groups").toInt();
  if (n != static_cast<int64_t>(groups.size())) {
    throw std::invalid_argument("the optimizer state has " + std::to_string(n) + " parameter group(s), this optimizer " +
                                std::to_string(groups.size()));
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto &params = groups[g].params();
    int64_t size = read(archive, group_key(g) + "/size").toInt();
    if (size != static_cast<int64_t>(params.size())) {
      throw std::invalid_argument("the optimizer state has " + std::to_string(size) + " parameter(s) in group " +
                                  std::to_string(g) + ", this optimizer " + std::to_string(params.size()) +
                                  ": a different model");
    }
    for (size_t i = 0; i < params.size(); ++i) {
      std::string was = read(archive, group_key(g) + "/" + std::to_string(i)).toStringRef();
      std::string is = describe(params[i]);
      if (was != is) {
        throw std::invalid_argument("parameter " + std::to_string(i) + " of group " + std::to_string(g) + " is " + was +
                                    " in the optimizer state, " + is + " here: a different model");
      }
    }
  }
}

// Loads the state, or leaves the optimizer as it was and throws.
void load(Optimizer *opt, const char *data, size_t size) {
  torch::serialize::InputArchive archive;
  std::optional<torch::Device> device;
  for (const auto &group : opt->param_groups()) {
    if (!group.params().empty()) {
      device = group.params()[0].device();
      break;
    }
  }
  try {
    archive.load_from(data, size, device);
  } catch (const c10::Error &e) {
    throw std::invalid_argument(std::string("not an optimizer state: ") + e.what_without_backtrace());
  }
  check_header(opt, archive);
  // What to put back if libtorch's load fails part-way.
  auto old_state = std::move(opt->state());
  opt->state().clear();
  std::vector<std::unique_ptr<torch::optim::OptimizerOptions>> old_options;
  for (const auto &group : opt->param_groups()) {
    old_options.push_back(group.options().clone());
  }
  try {
    // Replaces the state of every parameter the archive has state for, and
    // each group's options (PyTorch's load_state_dict); the state of the
    // others stays cleared, as in the saved optimizer.
    opt->load(archive);
    check_state(opt);
  } catch (...) {
    opt->state() = std::move(old_state);
    auto &groups = opt->param_groups();
    for (size_t g = 0; g < groups.size(); ++g) {
      groups[g].set_options(std::move(old_options[g]));
    }
    throw;
  }
}

// The parameters in group order: PyTorch's integer parameter indices.
std::vector<torch::Tensor> flat_params(Optimizer *opt) {
  std::vector<torch::Tensor> out;
  for (const auto &group : opt->param_groups()) {
    for (const auto &p : group.params()) out.push_back(p);
  }
  return out;
}

// The group of parameter `index`.
const torch::optim::OptimizerParamGroup &group_of(Optimizer *opt, size_t index) {
  size_t n = 0;
  for (const auto &group : opt->param_groups()) {
    n += group.params().size();
    if (index < n) return group;
  }
  throw std::invalid_argument("no parameter " + std::to_string(index));
}

// PyTorch's step: a 0-dim float32 tensor, exactly the step count.
torch::Tensor step_tensor(int64_t step) {
  float f = static_cast<float>(step);
  if (static_cast<int64_t>(f) != step) {
    throw std::invalid_argument("step " + std::to_string(step) + " is not exact as PyTorch's float32 step");
  }
  return torch::scalar_tensor(f, torch::kFloat);
}

int64_t step_of(const torch::Tensor &t, size_t index) {
  if (t.numel() != 1 || !(t.is_floating_point() || t.scalar_type() == torch::kLong || t.scalar_type() == torch::kInt)) {
    throw std::invalid_argument("the step of parameter " + std::to_string(index) + " is " + describe(t) +
                                ", expected one number");
  }
  double v = t.item<double>();
  if (!(v >= 0 && v < 9007199254740992.0) || v != static_cast<double>(static_cast<int64_t>(v))) {
    std::ostringstream s;
    s << "the step of parameter " << index << " is " << v << ", not a whole number of steps";
    throw std::invalid_argument(s.str());
  }
  return static_cast<int64_t>(v);
}

// The state's names (static strings: PyTorch's) and tensors of one parameter
// (the defined ones), in PyTorch's order.
std::vector<std::pair<const char *, torch::Tensor>> state_of(Optimizer *opt, const torch::Tensor &p) {
  std::vector<std::pair<const char *, torch::Tensor>> out;
  auto found = opt->state().find(p.unsafeGetTensorImpl());
  if (found == opt->state().end()) return out;
  const auto *s = found->second.get();
  auto put = [&out](const char *name, const torch::Tensor &t) {
    if (t.defined()) out.emplace_back(name, t.detach().clone());
  };
  auto adam = [&](const auto &x) {
    out.emplace_back("step", step_tensor(x.step()));
    put("exp_avg", x.exp_avg());
    put("exp_avg_sq", x.exp_avg_sq());
    put("max_exp_avg_sq", x.max_exp_avg_sq());
  };
  if (auto *x = dynamic_cast<const torch::optim::SGDParamState *>(s)) {
    put("momentum_buffer", x->momentum_buffer());
  } else if (auto *x = dynamic_cast<const torch::optim::RMSpropParamState *>(s)) {
    out.emplace_back("step", step_tensor(x->step()));
    put("square_avg", x->square_avg());
    put("momentum_buffer", x->momentum_buffer());
    put("grad_avg", x->grad_avg());
  } else if (!with_adam_state(s, adam)) {
    throw std::invalid_argument("unknown parameter state");
  }
  return out;
}

// One parameter's state from names and tensors, checked against the
// parameter and its group's options: unknown, missing or mismatched tensors
// are refused.
std::unique_ptr<torch::optim::OptimizerParamState> make_state(Optimizer *opt, size_t index, const torch::Tensor &p,
                                                              const std::vector<std::string> &names,
                                                              const std::vector<torch::Tensor> &tensors) {
  Kind kind = kind_of(opt);
  std::vector<std::string> allowed;
  std::vector<std::string> required;
  const auto &options = group_of(opt, index).options();
  if (kind == Kind::Sgd) {
    allowed = {"momentum_buffer"};
  } else if (kind == Kind::Adam || kind == Kind::AdamW) {
    bool ams = kind == Kind::Adam ? static_cast<const torch::optim::AdamOptions &>(options).amsgrad()
                                  : static_cast<const torch::optim::AdamWOptions &>(options).amsgrad();
    allowed = {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    required = {"step", "exp_avg", "exp_avg_sq"};
    if (ams) required.push_back("max_exp_avg_sq");
  } else {
    const auto &o = static_cast<const torch::optim::RMSpropOptions &>(options);
    allowed = {"step", "square_avg", "momentum_buffer", "grad_avg"};
    required = {"step", "square_avg"};
    if (o.momentum() > 0) required.push_back("momentum_buffer");
    if (o.centered()) required.push_back("grad_avg");
  }
  std::map<std::string, torch::Tensor> got;
  for (size_t k = 0; k < names.size(); ++k) {
    const auto &name = names[k];
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      throw std::invalid_argument("unknown state `" + name + "` of parameter " + std::to_string(index) + " for " +
                                  kind_name(kind));
    }
    if (got.count(name) != 0) {
      throw std::invalid_argument("state `" + name + "` of parameter " + std::to_string(index) + " given twice");
    }
    const auto &t = tensors[k];
    if (!t.defined()) throw std::invalid_argument("undefined state `" + name + "`");
    if (name != "step" && (t.sizes() != p.sizes() || t.scalar_type() != p.scalar_type())) {
      throw std::invalid_argument("the state's " + name + " of parameter " + std::to_string(index) + " is " +
                                  describe(t) + ", the parameter " + describe(p));
    }
    got[name] = name == "step" ? t : t.detach().to(p.device()).clone();
  }
  for (const auto &name : required) {
    if (got.count(name) == 0) {
      throw std::invalid_argument("the state of parameter " + std::to_string(index) + " has no `" + name + "`");
    }
  }
  auto at = [&got](const char *name) {
    auto f = got.find(name);
    return f == got.end() ? torch::Tensor() : f->second;
  };
  if (kind == Kind::Sgd) {
    auto s = std::make_unique<torch::optim::SGDParamState>();
    s->momentum_buffer(at("momentum_buffer"));
    return s;
  }
  // Adam's and AdamW's states: two classes with the same fields.
  auto adam = [&](auto s) -> std::unique_ptr<torch::optim::OptimizerParamState> {
    s->step(step_of(got["step"], index));
    s->exp_avg(at("exp_avg"));
    s->exp_avg_sq(at("exp_avg_sq"));
    s->max_exp_avg_sq(at("max_exp_avg_sq"));
    return s;
  };
  if (kind == Kind::Adam) return adam(std::make_unique<torch::optim::AdamParamState>());
  if (kind == Kind::AdamW) return adam(std::make_unique<torch::optim::AdamWParamState>());
  auto s = std::make_unique<torch::optim::RMSpropParamState>();
  s->step(step_of(got["step"], index));
  s->square_avg(at("square_avg"));
  s->momentum_buffer(at("momentum_buffer"));
  s->grad_avg(at("grad_avg"));
  return s;
}

} // namespace

extern "C" {

// Serializes the optimizer's state (libtorch's archive format, with tch-lr's
// header). On success, *out is a malloc'd buffer of *len bytes (free it with
// tch_lr_free).
int tch_lr_optimizer_save(Optimizer *opt, char **out, size_t *len, char **error) {
  *out = nullptr;
  *len = 0;
  return protect(error, [&] {
    std::vector<char> bytes;
    save(opt, bytes);
    char *buffer = static_cast<char *>(std::malloc(bytes.empty() ? 1 : bytes.size()));
    if (buffer == nullptr) throw std::bad_alloc();
    std::memcpy(buffer, bytes.data(), bytes.size());
    *out = buffer;
    *len = bytes.size();
  });
}

// Loads a state saved by tch_lr_optimizer_save from `size` bytes at `data`.
// On error the optimizer is unchanged.
int tch_lr_optimizer_load(Optimizer *opt, const char *data, size_t size, char **error) {
  return protect(error, [&] { load(opt, data, size); });
}

// The optimizer's kind (src/ffi/kind.hpp), into *kind.
int tch_lr_optimizer_kind(Optimizer *opt, std::int32_t *kind, char **error) {
  *kind = -1;
  return protect(error, [&] { *kind = static_cast<std::int32_t>(kind_of(opt)); });
}

// How many parameters the optimizer has, in all groups.
int tch_lr_optimizer_param_count(Optimizer *opt, size_t *n, char **error) {
  *n = 0;
  return protect(error, [&] { *n = flat_params(opt).size(); });
}

// The state of parameter `index` (group order, as PyTorch numbers them), into
// the caller's two arrays of `capacity` slots each: names[k] (a static string,
// PyTorch's name; not to be freed) and tensors[k] (a new tensor, a copy, which
// the caller owns) for k < *count. No state: *count is 0. A state of more
// than `capacity` tensors is an error, and nothing is written then.
int tch_lr_optimizer_state_get(Optimizer *opt, size_t index, const char **names, torch::Tensor **tensors,
                               size_t capacity, size_t *count, char **error) {
  *count = 0;
  return protect(error, [&] {
    auto params = flat_params(opt);
    if (index >= params.size()) {
      throw std::invalid_argument("no parameter " + std::to_string(index) + ", the optimizer has " +
                                  std::to_string(params.size()));
    }
    auto state = state_of(opt, params[index]);
    if (state.size() > capacity) {
      throw std::invalid_argument("parameter " + std::to_string(index) + " has " + std::to_string(state.size()) +
                                  " state tensors, more than the " + std::to_string(capacity) + " asked for");
    }
    std::vector<std::unique_ptr<torch::Tensor>> made;
    for (const auto &entry : state) made.push_back(std::make_unique<torch::Tensor>(entry.second));
    for (size_t k = 0; k < state.size(); ++k) {
      names[k] = state[k].first;
      tensors[k] = made[k].release();
    }
    *count = state.size();
  });
}

// Replaces the whole per-parameter state (PyTorch's load_state_dict): `n`
// entries, entry e for parameter indices[e] with counts[e] tensors, taken in
// order from the `n_tensors` tensors (only read) and their names, `names`
// (as many). Parameters without an entry have no state afterwards. All is
// checked first: on error the optimizer is unchanged.
int tch_lr_optimizer_state_set(Optimizer *opt, size_t n, const size_t *indices, const size_t *counts,
                               size_t n_tensors, const char *const *names, torch::Tensor *const *tensors,
                               char **error) {
  return protect(error, [&] {
    auto params = flat_params(opt);
    std::vector<std::pair<size_t, std::unique_ptr<torch::optim::OptimizerParamState>>> fresh;
    std::vector<bool> seen(params.size(), false);
    size_t next = 0;
    for (size_t e = 0; e < n; ++e) {
      size_t index = indices[e];
      if (index >= params.size()) {
        throw std::invalid_argument("state for parameter " + std::to_string(index) + ", the optimizer has " +
                                    std::to_string(params.size()));
      }
      if (seen[index]) throw std::invalid_argument("two states for parameter " + std::to_string(index));
      seen[index] = true;
      if (counts[e] > n_tensors - next) {
        throw std::invalid_argument("the entries count more tensors than the " + std::to_string(n_tensors) + " given");
      }
      std::vector<std::string> list;
      std::vector<torch::Tensor> ts;
      for (size_t k = 0; k < counts[e]; ++k, ++next) {
        if (names[next] == nullptr) throw std::invalid_argument("a state tensor without a name");
        list.emplace_back(names[next]);
        ts.push_back(*tensors[next]);
      }
      fresh.emplace_back(index, make_state(opt, index, params[index], list, ts));
    }
    if (next != n_tensors) {
      throw std::invalid_argument("the entries count " + std::to_string(next) + " tensors, " +
                                  std::to_string(n_tensors) + " were given");
    }
    opt->state().clear();
    for (auto &entry : fresh) {
      opt->state()[params[entry.first].unsafeGetTensorImpl()] = std::move(entry.second);
    }
  });
}
}
