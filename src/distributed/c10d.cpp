// tch-lr's data-parallel engine: PyTorch's own c10d (a TCPStore for the
// rendezvous, the Gloo backend for CPU tensors, NCCL for CUDA ones) behind a C
// interface, declared for Rust in src/ffi/mod.rs and used by
// src/distributed.rs. Compiled by build.rs with the
// `distributed` feature, against the libtorch that torch-sys links.
//
// The wheel ships c10d's headers but not gloo's, which ProcessGroupGloo.hpp
// includes; and ProcessGroupNCCL.hpp needs CUDA headers the wheel lacks. This
// file includes neither. It uses c10d's public headers that stand alone
// (Store, TCPStore, PrefixStore, Backend, Work, Types), and declares, below, the
// two things it calls of each backend class: its constructor and its options'
// factory, exported by libtorch_cpu.so (Gloo) and libtorch_cuda.so (NCCL).
// Every other call goes through `c10d::Backend`'s virtual functions, so no
// member or size of the backend classes is assumed by this file:
//
// - a backend object is built in a block far larger than the class (kSlab)
//   that is filled with a pattern first: after construction the pattern's
//   untouched tail proves the object fits (checked, else a one-line error);
// - it is owned through `c10::intrusive_ptr<c10d::Backend>` (its base class,
//   at offset 0: single inheritance), and destroyed by its own virtual
//   destructor, inside libtorch;
// - the declarations carry the exact C++ signatures of the exported symbols
//   (so the linker resolves them; a wrong one fails the build, not the run).
//
// tests/distributed.rs proves the result against the running libtorch: the
// all-reduce and broadcast of known tensors, and averaged gradients, give
// exact expected values across processes launched by torchrun.
//
// Every function returns 0, or 1 with the one-line message of what was thrown
// in *error (src/ffi/protect.hpp).

#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include "../ffi/protect.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <vector>

namespace c10d {

// libtorch's Gloo backend (torch/csrc/distributed/c10d/ProcessGroupGloo.hpp):
// the members this file calls. Each class declares its destructor out of line
// (libtorch defines them): that makes the destructor the key function, so
// this file never emits a vtable of its own for these classes (one would
// interpose libtorch's at load time). tests/distributed.rs checks it (nm).
class ProcessGroupGloo : public Backend {
public:
  struct Options : public Backend::Options {
    ~Options() override;
    static c10::intrusive_ptr<Options> create_default(std::chrono::milliseconds timeout);
  };
  ProcessGroupGloo(const c10::intrusive_ptr<Store> &store, int rank, int size, c10::intrusive_ptr<Options> options);
  ~ProcessGroupGloo() override;
};

// libtorch's NCCL backend (ProcessGroupNCCL.hpp, in libtorch_cuda.so).
class ProcessGroupNCCL : public Backend {
public:
  struct Options : public Backend::Options {
    explicit Options(bool is_high_priority_stream);
    ~Options() override;
  };
  ProcessGroupNCCL(c10::intrusive_ptr<Store> store, int rank, int size, c10::intrusive_ptr<Options> options);
  ~ProcessGroupNCCL() override;
};

} // namespace c10d

namespace {

// The block a backend object or its options are built in: far larger than
// any of them (hundreds of bytes to a few KiB in libtorch 2.11 to 2.13).
constexpr size_t kSlab = 64 * 1024;
constexpr unsigned char kPattern = 0xA5;

using tch_lr_ffi::protect;

// A block of kSlab bytes filled with the pattern.
void *slab() {
  void *p = ::operator new(kSlab);
  std::memset(p, kPattern, kSlab);
  return p;
}

// Throws unless the object built at p left the block's second half untouched.
void check_fits(const void *p, const char *what) {
  const unsigned char *b = static_cast<const unsigned char *>(p);
  for (size_t i = kSlab / 2; i < kSlab; ++i) {
    if (b[i] != kPattern) {
      throw std::runtime_error(std::string(what) + " is larger than tch-lr expects: this libtorch is not supported");
    }
  }
}

// Builds T in a slab with `make(place)`, owned by an intrusive_ptr<Base>.
template <class Base, class T, class Make> c10::intrusive_ptr<Base> build(const char *what, Make make) {
  void *p = slab();
  T *object;
  try {
    object = make(p);
  } catch (...) {
    ::operator delete(p);
    throw;
  }
  check_fits(p, what);
  return c10::intrusive_ptr<Base>::unsafe_steal_from_new(object);
}

// c10's log threshold (0 INFO .. 3 FATAL): c10d logs each failure with its C++
// backtrace before throwing it; the group raises the threshold to FATAL for
// its lifetime (its errors come back as one-line messages) and puts it back.
constexpr int kFatal = 3;

struct Group {
  int log_level = FLAGS_caffe2_log_level;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
};

void wait(const c10::intrusive_ptr<c10d::Work> &work, const Group &g) {
  // Throws on a peer's failure, or when the timeout passes.
  work->wait(g.timeout);
}

// The tensors grouped by dtype and device (each group is flattened into one
// buffer: one collective per group, in the tensors' order).
std::vector<std::vector<torch::Tensor>> by_kind(torch::Tensor *const *tensors, size_t n) {
  std::map<std::pair<int, std::string>, size_t> index;
  std::vector<std::vector<torch::Tensor>> groups;
  for (size_t i = 0; i < n; ++i) {
    const auto &t = *tensors[i];
    auto key = std::make_pair(static_cast<int>(t.scalar_type()), t.device().str());
    auto found = index.find(key);
    if (found == index.end()) {
      found = index.emplace(key, groups.size()).first;
      groups.emplace_back();
    }
    groups[found->second].push_back(t);
  }
  return groups;
}

torch::Tensor flatten(const std::vector<torch::Tensor> &ts) {
  std::vector<torch::Tensor> flat;
  flat.reserve(ts.size());
  for (const auto &t : ts) flat.push_back(t.reshape({-1}));
  return torch::cat(flat);
}

void unflatten(const torch::Tensor &flat, std::vector<torch::Tensor> &ts) {
  int64_t at = 0;
  for (auto &t : ts) {
    int64_t n = t.numel();
    t.copy_(flat.narrow(0, at, n).view(t.sizes()));
    at += n;
  }
}

} // namespace

extern "C" {

// Joins the process group: a TCPStore at host:port (its server when
// is_server), keys under `prefix`, Gloo for CPU tensors (cuda == 0) or NCCL
// for CUDA ones, with `timeout_ms` for the rendezvous and every collective.
// On success *out is the group (leave it with tch_lr_dist_free).
int tch_lr_dist_new(const char *host, int port, int rank, int size, int is_server, const char *prefix,
                    int64_t timeout_ms, int cuda, Group **out, char **error) {
  *out = nullptr;
  int log_level = FLAGS_caffe2_log_level;
  int status = protect(error, [&] {
    auto group = std::make_unique<Group>();
    FLAGS_caffe2_log_level = kFatal;
    group->rank = rank;
    group->size = size;
    group->timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = is_server != 0;
    opts.numWorkers = is_server != 0 ? std::optional<std::size_t>(size) : std::nullopt;
    opts.waitWorkers = false;
    opts.timeout = group->timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(host), opts);
    group->store = c10::make_intrusive<c10d::PrefixStore>(std::string(prefix), tcp);
    if (cuda == 0) {
      auto options = c10d::ProcessGroupGloo::Options::create_default(group->timeout);
      group->backend = build<c10d::Backend, c10d::ProcessGroupGloo>("ProcessGroupGloo", [&](void *p) {
        return new (p) c10d::ProcessGroupGloo(group->store, rank, size, options);
      });
    } else {
      auto options = build<c10d::ProcessGroupNCCL::Options, c10d::ProcessGroupNCCL::Options>(
          "ProcessGroupNCCL::Options", [](void *p) { return new (p) c10d::ProcessGroupNCCL::Options(false); });
      options->timeout = group->timeout;
      group->backend = build<c10d::Backend, c10d::ProcessGroupNCCL>("ProcessGroupNCCL", [&](void *p) {
        return new (p) c10d::ProcessGroupNCCL(group->store, rank, size, options);
      });
    }
    *out = group.release();
  });
  if (status != 0) FLAGS_caffe2_log_level = log_level;
  return status;
}

// Sums (mean != 0: averages, dividing each rank's part by the world size
// first, as DDP does) the n tensors across the ranks, in place: one
// all-reduce per dtype and device, over the tensors flattened in order.
int tch_lr_dist_all_reduce(Group *g, torch::Tensor *const *tensors, size_t n, int mean, char **error) {
  return protect(error, [&] {
    torch::NoGradGuard no_grad;
    for (auto &ts : by_kind(tensors, n)) {
      std::vector<torch::Tensor> flat{flatten(ts)};
      if (mean != 0) flat[0].div_(g->size);
      c10d::AllreduceOptions opts;
      opts.reduceOp = c10d::ReduceOp::SUM;
      opts.timeout = g->timeout;
      wait(g->backend->allreduce(flat, opts), *g);
      unflatten(flat[0], ts);
    }
  });
}

// Copies rank `root`'s n tensors into every rank's, in place.
int tch_lr_dist_broadcast(Group *g, torch::Tensor *const *tensors, size_t n, int root, char **error) {
  return protect(error, [&] {
    torch::NoGradGuard no_grad;
    for (auto &ts : by_kind(tensors, n)) {
      std::vector<torch::Tensor> flat{flatten(ts)};
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      opts.timeout = g->timeout;
      wait(g->backend->broadcast(flat, opts), *g);
      unflatten(flat[0], ts);
    }
  });
}

// Waits until every rank has called it.
int tch_lr_dist_barrier(Group *g, char **error) {
  return protect(error, [&] {
    c10d::BarrierOptions opts;
    opts.timeout = g->timeout;
    wait(g->backend->barrier(opts), *g);
  });
}

// Leaves the group: the backend and store are released.
int tch_lr_dist_free(Group *g, char **error) {
  int log_level = g->log_level;
  int status = protect(error, [&] { delete g; });
  FLAGS_caffe2_log_level = log_level;
  return status;
}
}
