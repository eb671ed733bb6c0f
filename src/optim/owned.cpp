// The optimizer state of tch-lr's owned optimizer (src/optim/owned.rs): libtorch's
// own optimizer serialization (`Optimizer::save` / `Optimizer::load`) behind a
// C interface. Compiled by build.rs against the libtorch that torch-sys links.
//
// Every function catches every C++ exception and returns its message as one
// line in a malloc'd string (free it with tch_lr_free), or nullptr on success.
//
// The `torch::optim::Optimizer *` handles are the ones torch-sys's ato_sgd,
// ato_adam, ato_adamw and ato_rms_prop return: torch-sys's libtch/torch_api.h
// declares its C type `optimizer` as `torch::optim::Optimizer *`.

#include <torch/optim.h>
#include <torch/serialize/archive.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

namespace {

using torch::optim::Optimizer;

// The format of the keys tch-lr adds beside libtorch's own.
constexpr int64_t FORMAT = 1;

char *message(const std::string &text) {
  // One line: libtorch appends its C++ backtrace after the first newline.
  std::string line = text.substr(0, text.find('\n'));
  char *out = static_cast<char *>(std::malloc(line.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, line.c_str(), line.size() + 1);
  }
  return out;
}

// Runs f; nullptr, or the message of what it threw.
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

// The optimizer's name, as in tch-lr's configs.
std::string kind_of(Optimizer *opt) {
  if (dynamic_cast<torch::optim::SGD *>(opt) != nullptr) return "sgd";
  if (dynamic_cast<torch::optim::AdamW *>(opt) != nullptr) return "adamw";
  if (dynamic_cast<torch::optim::Adam *>(opt) != nullptr) return "adam";
  if (dynamic_cast<torch::optim::RMSprop *>(opt) != nullptr) return "rmsprop";
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
  archive.write("tch_lr/optimizer", c10::IValue(kind_of(opt)));
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
      if (auto *x = dynamic_cast<const torch::optim::SGDParamState *>(s)) {
        check_tensor(x->momentum_buffer(), p, "momentum_buffer", g, i);
      } else if (auto *x = dynamic_cast<const torch::optim::AdamParamState *>(s)) {
        check_tensor(x->exp_avg(), p, "exp_avg", g, i);
        check_tensor(x->exp_avg_sq(), p, "exp_avg_sq", g, i);
        check_tensor(x->max_exp_avg_sq(), p, "max_exp_avg_sq", g, i);
      } else if (auto *x = dynamic_cast<const torch::optim::AdamWParamState *>(s)) {
        check_tensor(x->exp_avg(), p, "exp_avg", g, i);
        check_tensor(x->exp_avg_sq(), p, "exp_avg_sq", g, i);
        check_tensor(x->max_exp_avg_sq(), p, "max_exp_avg_sq", g, i);
      } else if (auto *x = dynamic_cast<const torch::optim::RMSpropParamState *>(s)) {
        check_tensor(x->square_avg(), p, "square_avg", g, i);
        check_tensor(x->momentum_buffer(), p, "momentum_buffer", g, i);
        check_tensor(x->grad_avg(), p, "grad_avg", g, i);
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
  std::string kind = kind_of(opt);
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

} // namespace

extern "C" {

// Serializes the optimizer's state (libtorch's archive format, with tch-lr's
// header). On success, *out is a malloc'd buffer of *len bytes (free it with
// tch_lr_free).
char *tch_lr_optimizer_save(Optimizer *opt, char **out, size_t *len) {
  *out = nullptr;
  *len = 0;
  return protect([&] {
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
char *tch_lr_optimizer_load(Optimizer *opt, const char *data, size_t size) {
  return protect([&] { load(opt, data, size); });
}

// Frees a string or buffer returned by the functions above.
void tch_lr_free(void *p) { std::free(p); }
}
