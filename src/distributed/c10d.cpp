// tch-lr's data-parallel engine: PyTorch's own c10d (a TCPStore for the
// rendezvous, the Gloo backend for CPU tensors, NCCL for CUDA ones) behind a C
// interface, declared for Rust in src/ffi/mod.rs and used by
// src/distributed.rs. Compiled by build.rs with the `distributed` feature,
// against the libtorch that torch-sys links.
//
// The wheel ships c10d's headers but not gloo's, which ProcessGroupGloo.hpp
// includes; and ProcessGroupNCCL.hpp needs CUDA headers the wheel lacks. This
// file includes neither. It uses c10d's public headers that stand alone
// (Store, TCPStore, PrefixStore, Backend, Work, Types), and declares, below,
// what it calls of each backend class: its constructor, its options' factory
// or constructor, and (so that the compiler emits no vtable for it) its
// destructor, all exported by libtorch_cpu.so (Gloo) and libtorch_cuda.so
// (NCCL), with their exact C++ signatures (so the linker resolves them; a
// wrong one fails the build, not the run). Every other call goes through
// `c10d::Backend`'s virtual functions: no member or size of the backend
// classes is assumed by this file.
//
// Lifetime: libtorch exports no factory that allocates a ProcessGroupGloo
// (nor NCCL's Options: their `create` is inline in the header, so it would be
// compiled here, with the size declared here). So this file owns the memory
// of those objects, from allocation to free, and libtorch never frees it
// (`Held`, below):
// - each is built in a block of kSlab bytes from `::operator new(kSlab)`, far
//   larger than the class, filled with a pattern first: after construction,
//   and again before it is destroyed, the pattern's untouched second half
//   proves the object fits (else a one-line error);
// - it is handed to `c10::intrusive_ptr` through
//   `unsafe_adapt_non_heap_allocated`, c10's own mechanism for objects that
//   intrusive_ptr must not free: their reference counts start impractically
//   high, so no release of a reference, here or inside libtorch, ever reaches
//   zero and runs the class's deleting destructor (which would hand the block
//   to sized `operator delete` with sizeof the real class, a size this file
//   did not allocate);
// - when the group is left, the counts must be back where they were right
//   after adapting (nobody else holds a reference, strong or weak); then the
//   object is destroyed by its virtual destructor called explicitly through
//   its base (`object->~Backend()`: the complete-object destructor, inside
//   libtorch, which frees nothing; called through a pointer the compiler
//   cannot see through, so that it goes through libtorch's vtable and never
//   to a symbol libtorch does not export), and the block is freed with
//   `::operator delete(block, kSlab)`, the size it was allocated with. If
//   someone still holds a reference, both are left as they are (a leak,
//   reported to Rust in one line), never freed under the holder. NCCL's
//   Options go the same way, after the backend that holds them.
// Everything else (the group, the stores, Gloo's Options from libtorch's own
// `create_default`) is allocated and freed by one side only, with its real size.
//
// tests/distributed.rs proves the result against the running libtorch: the
// all-reduce and broadcast of known tensors, and averaged gradients, give
// exact expected values across processes launched by torchrun; those workers
// and the training example run under an LD_PRELOAD interposer of operator
// new/delete that aborts on a block freed with another size than allocated;
// and no vtable of the backend classes is defined by this file (nm).
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
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
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

// Whether the second half of a block still holds the pattern.
bool fits(const void *block) {
  const unsigned char *b = static_cast<const unsigned char *>(block);
  for (size_t i = kSlab / 2; i < kSlab; ++i) {
    if (b[i] != kPattern) return false;
  }
  return true;
}

// `p`, read back through a volatile: the compiler cannot know the dynamic
// type of the object it points to, so a virtual call through it stays one
// (through libtorch's vtable). Known, the call could be made directly to the
// class's destructor, a symbol libtorch need not export (NCCL's Options'
// destructor is inline in its header: not exported by libtorch_cuda.so; the
// link fails then, in every profile: build.rs compiles this file with -O2).
template <class T> T *opaque(T *p) {
  T *volatile hidden = p;
  return hidden;
}

// An object of a libtorch class whose size this file cannot know, built in a
// block this file allocates, and destroyed and freed by this file (see
// "Lifetime" above): `Base` is the class whose pointer libtorch is given
// (c10d::Backend, or NCCL's Options).
template <class Base> class Held {
public:
  Held() = default;
  Held(const Held &) = delete;
  Held &operator=(const Held &) = delete;
  ~Held() { (void)release(); }

  // Builds a T with `make(block)` (a placement new into the block) and holds
  // it. Throws, holding nothing, when construction throws or the object
  // reaches the block's second half.
  template <class T, class Make> void build(const char *what, Make make) {
    if (block_ != nullptr) throw std::logic_error(std::string(what) + " is built twice");
    void *block = ::operator new(kSlab);
    std::memset(block, kPattern, kSlab);
    Base *object;
    try {
      T *built = make(block);
      object = built;
    } catch (...) {
      ::operator delete(block, kSlab);
      throw;
    }
    if (!fits(block)) {
      opaque(object)->~Base();
      ::operator delete(block, kSlab);
      throw std::runtime_error(std::string(what) + " is larger than tch-lr expects: this libtorch is not supported");
    }
    ptr_ = c10::intrusive_ptr<Base>::unsafe_adapt_non_heap_allocated(object, 1);
    strong_ = ptr_.use_count();
    weak_ = ptr_.weak_use_count();
    block_ = block;
    what_ = what;
  }

  const c10::intrusive_ptr<Base> &get() const { return ptr_; }

  enum class Released { Nothing, Freed, StillReferenced, Grew };

  // Destroys the object and frees its block, unless another reference to it
  // remains: then both are left as they are (StillReferenced). Holds nothing
  // afterwards. Grew: destroyed and freed, but the object had written past
  // the block's first half during its life.
  Released release() noexcept {
    if (block_ == nullptr) return Released::Nothing;
    void *block = block_;
    block_ = nullptr;
    if (ptr_.use_count() != strong_ || ptr_.weak_use_count() != weak_) {
      // Our reference stays counted: the object is never freed.
      (void)ptr_.release();
      return Released::StillReferenced;
    }
    bool fitted = fits(block);
    Base *object = opaque(ptr_.release());
    object->~Base(); // virtual: the complete-object destructor, which frees nothing
    ::operator delete(block, kSlab);
    return fitted ? Released::Freed : Released::Grew;
  }

  // The class's name, for messages (a static string).
  const char *what() const { return what_; }

private:
  void *block_ = nullptr;
  c10::intrusive_ptr<Base> ptr_;
  uint32_t strong_ = 0;
  uint32_t weak_ = 0;
  const char *what_ = "";
};

// c10's log threshold (0 INFO .. 3 FATAL): c10d logs each failure with its C++
// backtrace before throwing it; the group raises the threshold to FATAL for
// its lifetime (its errors come back as one-line messages) and puts it back.
constexpr int kFatal = 3;

struct Group {
  int log_level = FLAGS_caffe2_log_level;
  c10::intrusive_ptr<c10d::Store> store;
  // NCCL's (before the backend, which holds them: destroyed after it).
  Held<c10d::ProcessGroupNCCL::Options> nccl_options;
  Held<c10d::Backend> backend;
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
      // Allocated (and freed) by libtorch itself.
      auto options = c10d::ProcessGroupGloo::Options::create_default(group->timeout);
      group->backend.build<c10d::ProcessGroupGloo>("ProcessGroupGloo", [&](void *p) {
        return new (p) c10d::ProcessGroupGloo(group->store, rank, size, options);
      });
    } else {
      group->nccl_options.build<c10d::ProcessGroupNCCL::Options>(
          "ProcessGroupNCCL::Options", [](void *p) { return new (p) c10d::ProcessGroupNCCL::Options(false); });
      group->nccl_options.get()->timeout = group->timeout;
      group->backend.build<c10d::ProcessGroupNCCL>("ProcessGroupNCCL", [&](void *p) {
        return new (p) c10d::ProcessGroupNCCL(group->store, rank, size, group->nccl_options.get());
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
      wait(g->backend.get()->allreduce(flat, opts), *g);
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
      wait(g->backend.get()->broadcast(flat, opts), *g);
      unflatten(flat[0], ts);
    }
  });
}

// Waits until every rank has called it.
int tch_lr_dist_barrier(Group *g, char **error) {
  return protect(error, [&] {
    c10d::BarrierOptions opts;
    opts.timeout = g->timeout;
    wait(g->backend.get()->barrier(opts), *g);
  });
}

// Leaves the group: the backend is destroyed and its block freed (then NCCL's
// options), then the store is released; `g` is gone afterwards, whatever the
// status. Fails when a backend object was still referenced (left allocated,
// never freed under its holder) or grew past half of its block.
int tch_lr_dist_free(Group *g, char **error) {
  int log_level = g->log_level;
  const char *backend = g->backend.what();
  const char *options = g->nccl_options.what();
  auto b = g->backend.release();
  auto o = g->nccl_options.release();
  delete g;
  FLAGS_caffe2_log_level = log_level;
  return protect(error, [&] {
    using Released = Held<c10d::Backend>::Released;
    using OptionsReleased = Held<c10d::ProcessGroupNCCL::Options>::Released;
    if (b == Released::StillReferenced || o == OptionsReleased::StillReferenced) {
      throw std::runtime_error(std::string(b == Released::StillReferenced ? backend : options) +
                               " is still referenced after the group was left: it was not freed");
    }
    if (b == Released::Grew || o == OptionsReleased::Grew) {
      throw std::runtime_error(std::string(b == Released::Grew ? backend : options) +
                               " grew past half of its block: this libtorch is not supported");
    }
  });
}
}
