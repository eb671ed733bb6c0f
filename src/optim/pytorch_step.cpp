// The owned optimizer's Adam, AdamW and RMSprop step with PyTorch's formula:
// `torch.optim.Adam` / `AdamW` / `RMSprop`'s single-tensor step (what Python
// runs on the CPU), op for op, so that a run continued across the two
// languages stays bit-identical. Compiled by build.rs with owned.cpp; Rust
// declares its two C functions in src/ffi/mod.rs.
//
// libtorch's own C++ optimizers compute the same maths with other ops: Adam's
// first moment (and centered RMSprop's gradient average) as
// `mul_(beta).add_(grad, 1 - beta)` where Python has `lerp_(grad, 1 - beta)`,
// `sqrt(bias_correction2)` where Python has `bias_correction2 ** 0.5`; after a
// few steps some elements differ in their last bits. Each class here is
// libtorch's class (so its options, its per-parameter state, its setters and
// its serialization are libtorch's, unchanged) with `step` overridden.
// SGD needs none: libtorch's C++ step equals Python's, op for op.

#include <torch/optim.h>

#include "../ffi/protect.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

namespace {

using torch::optim::Optimizer;

// The state of parameter `p` in `opt`, created by `make` on the first step.
template <class State, class Make>
State &state_for(Optimizer &opt, const torch::Tensor &p, Make &&make) {
  auto &states = opt.state();
  auto key = p.unsafeGetTensorImpl();
  auto found = states.find(key);
  if (found == states.end()) {
    auto s = std::make_unique<State>();
    make(*s);
    found = states.emplace(key, std::move(s)).first;
  }
  return static_cast<State &>(*found->second);
}

torch::Tensor zeros(const torch::Tensor &p) { return torch::zeros_like(p, torch::MemoryFormat::Preserve); }

// Runs the closure, if any, with gradients on (libtorch's and Python's step).
torch::Tensor run(const Optimizer::LossClosure &closure) {
  if (closure == nullptr) return {};
  torch::AutoGradMode enable_grad(true);
  return closure();
}

// torch.optim.Adam (decoupled = false) and AdamW (decoupled = true):
// torch/optim/adam.py, _single_tensor_adam, neither capturable nor
// differentiable nor maximize.
template <class Base, class Options, class State> class PyTorchAdam final : public Base {
public:
  PyTorchAdam(Options options, bool decoupled)
      : Base(std::vector<torch::Tensor>(), std::move(options)), decoupled_(decoupled) {}

  torch::Tensor step(Optimizer::LossClosure closure = nullptr) override {
    torch::NoGradGuard no_grad;
    torch::Tensor loss = run(closure);
    for (auto &group : this->param_groups()) {
      const auto &o = static_cast<const Options &>(group.options());
      const double lr = o.lr();
      const double beta1 = std::get<0>(o.betas());
      const double beta2 = std::get<1>(o.betas());
      const double weight_decay = o.weight_decay();
      for (auto &param : group.params()) {
        if (!param.grad().defined()) continue;
        TORCH_CHECK(!param.grad().is_sparse(), "Adam does not support sparse gradients");
        torch::Tensor grad = param.grad();
        auto &s = state_for<State>(*this, param, [&](State &n) {
          n.step(0);
          n.exp_avg(zeros(param));
          n.exp_avg_sq(zeros(param));
          if (o.amsgrad()) n.max_exp_avg_sq(zeros(param));
        });
        // step_t += 1 (Python keeps it as a float32 tensor: exact to 2^24,
        // which the state mapping checks).
        s.step(s.step() + 1);
        if (weight_decay != 0) {
          if (decoupled_) {
            param.mul_(1 - lr * weight_decay);
          } else {
            grad = grad.add(param, weight_decay);
          }
        }
        s.exp_avg().lerp_(grad, 1 - beta1);
        s.exp_avg_sq().mul_(beta2).addcmul_(grad, grad, 1 - beta2);
        // step = _get_value(step_t): a Python float.
        const double step = static_cast<double>(static_cast<float>(s.step()));
        const double bias_correction1 = 1 - std::pow(beta1, step);
        const double bias_correction2 = 1 - std::pow(beta2, step);
        const double step_size = lr / bias_correction1;
        const double bias_correction2_sqrt = std::pow(bias_correction2, 0.5);
        torch::Tensor denom;
        if (o.amsgrad()) {
          torch::maximum_out(s.max_exp_avg_sq(), s.max_exp_avg_sq(), s.exp_avg_sq());
          denom = (s.max_exp_avg_sq().sqrt() / bias_correction2_sqrt).add_(o.eps());
        } else {
          denom = (s.exp_avg_sq().sqrt() / bias_correction2_sqrt).add_(o.eps());
        }
        param.addcdiv_(s.exp_avg(), denom, -step_size);
      }
    }
    return loss;
  }

private:
  bool decoupled_;
};

// torch.optim.RMSprop: torch/optim/rmsprop.py, _single_tensor_rmsprop,
// neither capturable nor differentiable nor maximize.
class PyTorchRMSprop final : public torch::optim::RMSprop {
public:
  explicit PyTorchRMSprop(torch::optim::RMSpropOptions options)
      : torch::optim::RMSprop(std::vector<torch::Tensor>(), std::move(options)) {}

  torch::Tensor step(Optimizer::LossClosure closure = nullptr) override {
    torch::NoGradGuard no_grad;
    torch::Tensor loss = run(closure);
    for (auto &group : param_groups()) {
      const auto &o = static_cast<const torch::optim::RMSpropOptions &>(group.options());
      const double alpha = o.alpha();
      for (auto &param : group.params()) {
        if (!param.grad().defined()) continue;
        TORCH_CHECK(!param.grad().is_sparse(), "RMSprop does not support sparse gradients");
        torch::Tensor grad = param.grad();
        auto &s = state_for<torch::optim::RMSpropParamState>(*this, param, [&](auto &n) {
          n.step(0);
          n.square_avg(zeros(param));
          if (o.momentum() > 0) n.momentum_buffer(zeros(param));
          if (o.centered()) n.grad_avg(zeros(param));
        });
        s.step(s.step() + 1);
        if (o.weight_decay() != 0) grad = grad.add(param, o.weight_decay());
        s.square_avg().mul_(alpha).addcmul_(grad, grad, 1 - alpha);
        torch::Tensor avg;
        if (o.centered()) {
          s.grad_avg().lerp_(grad, 1 - alpha);
          avg = s.square_avg().addcmul(s.grad_avg(), s.grad_avg(), -1).sqrt_();
        } else {
          avg = s.square_avg().sqrt();
        }
        avg = avg.add_(o.eps());
        if (o.momentum() > 0) {
          s.momentum_buffer().mul_(o.momentum()).addcdiv_(grad, avg);
          param.add_(s.momentum_buffer(), -o.lr());
        } else {
          param.addcdiv_(grad, avg, -o.lr());
        }
      }
    }
    return loss;
  }
};

using PyTorchAdamOnly = PyTorchAdam<torch::optim::Adam, torch::optim::AdamOptions, torch::optim::AdamParamState>;
using PyTorchAdamW = PyTorchAdam<torch::optim::AdamW, torch::optim::AdamWOptions, torch::optim::AdamWParamState>;

// Creates with `make` into *out: 0, or 1 with the one-line message of what it
// threw in *error.
template <class F> int create(Optimizer **out, char **error, F make) {
  *out = nullptr;
  return tch_lr_ffi::protect(error, [&] { *out = make(); });
}

} // namespace

extern "C" {

// A new Adam (decoupled == 0) or AdamW (decoupled != 0) with PyTorch's step
// and no parameters (add them with torch-sys's ato_add_parameters; free it
// with ato_free), into *out: 0, or 1 with a one-line message in *error
// (src/ffi/protect.hpp).
int tch_lr_pytorch_adam(double lr, double beta1, double beta2, double weight_decay, double eps, int amsgrad,
                        int decoupled, Optimizer **out, char **error) {
  return create(out, error, [&]() -> Optimizer * {
    auto betas = std::make_tuple(beta1, beta2);
    if (decoupled != 0) {
      auto o = torch::optim::AdamWOptions(lr).betas(betas).weight_decay(weight_decay).eps(eps).amsgrad(amsgrad != 0);
      return new PyTorchAdamW(o, true);
    }
    auto o = torch::optim::AdamOptions(lr).betas(betas).weight_decay(weight_decay).eps(eps).amsgrad(amsgrad != 0);
    return new PyTorchAdamOnly(o, false);
  });
}

// A new RMSprop with PyTorch's step, as tch_lr_pytorch_adam.
int tch_lr_pytorch_rms_prop(double lr, double alpha, double eps, double weight_decay, double momentum, int centered,
                            Optimizer **out, char **error) {
  return create(out, error, [&]() -> Optimizer * {
    auto o = torch::optim::RMSpropOptions(lr)
                 .alpha(alpha)
                 .eps(eps)
                 .weight_decay(weight_decay)
                 .momentum(momentum)
                 .centered(centered != 0);
    return new PyTorchRMSprop(o);
  });
}
}
