// A test's LD_PRELOAD interposer of C++'s global operator new and delete
// (tests/distributed.rs): every block carries a header with the size and the
// alignment it was allocated with, and a block freed by sized delete with
// another size, or by a delete of another alignment, ends the process with
// one line on stderr and abort(). Every replaceable variant is defined here
// (plain, array, nothrow, aligned, sized), so every C++ block of the process
// passes through it. A block without this file's header (one a library
// allocated with its own, private operator new) is handed to free() unchecked.
//
// Built by the test: c++ -std=c++17 -O2 -shared -fPIC interposer.cpp.

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <unistd.h>

namespace {

// What sits just before each block this file hands out.
struct Header {
  std::size_t size;   // as asked of operator new
  std::size_t align;  // 0: operator new without an alignment; else the alignment asked for
  std::size_t offset; // from the start of malloc's block to the user's block
  std::uintptr_t tag; // kMagic ^ the user's address: the block is this file's
};
static_assert(sizeof(Header) == 32, "a header keeps malloc's 16-byte alignment");
constexpr std::uintptr_t kMagic = 0x5a17ed0de1e7e5a1u;

void put(char *line, std::size_t &n, const char *s) {
  while (*s != '\0' && n < 255) line[n++] = *s++;
}

void put(char *line, std::size_t &n, std::size_t v) {
  char digits[24];
  std::size_t k = 0;
  do {
    digits[k++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (k > 0 && n < 255) line[n++] = digits[--k];
}

// One line on stderr, then abort(): nothing is allocated.
[[noreturn]] void die(const char *what, std::size_t allocated, const char *as, std::size_t freed) {
  char line[256];
  std::size_t n = 0;
  put(line, n, "sized-delete interposer: freed with another ");
  put(line, n, what);
  put(line, n, " than allocated (allocated ");
  put(line, n, allocated);
  put(line, n, as);
  put(line, n, freed);
  put(line, n, ")\n");
  ssize_t ignored = ::write(2, line, n);
  (void)ignored;
  std::abort();
}

Header *header_of(void *p) { return static_cast<Header *>(p) - 1; }

// A block of `size` bytes aligned to `align` (0: malloc's own), or nullptr.
void *raw_allocate(std::size_t size, std::size_t align) {
  std::size_t offset = sizeof(Header);
  if (align > offset) offset = align;
  if (size > SIZE_MAX - offset) return nullptr;
  void *base = nullptr;
  if (align == 0) {
    base = std::malloc(offset + size);
  } else {
    std::size_t a = align < sizeof(void *) ? sizeof(void *) : align;
    if (::posix_memalign(&base, a, offset + size) != 0) base = nullptr;
  }
  if (base == nullptr) return nullptr;
  void *p = static_cast<char *>(base) + offset;
  *header_of(p) = Header{size, align, offset, kMagic ^ reinterpret_cast<std::uintptr_t>(p)};
  return p;
}

// operator new's contract: the new-handler until it succeeds, else bad_alloc
// (nothrow: nullptr).
void *allocate(std::size_t size, std::size_t align, bool nothrow) {
  for (;;) {
    if (void *p = raw_allocate(size, align)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
      if (nothrow) return nullptr;
      throw std::bad_alloc();
    }
    if (nothrow) {
      try {
        handler();
      } catch (...) {
        return nullptr;
      }
    } else {
      handler();
    }
  }
}

// `sized`: the size sized delete was given, checked against the header's.
void release(void *p, std::size_t align, bool sized, std::size_t size) {
  if (p == nullptr) return;
  Header *h = header_of(p);
  if (h->tag != (kMagic ^ reinterpret_cast<std::uintptr_t>(p))) {
    std::free(p); // not this file's block
    return;
  }
  if (h->align != align) die("alignment", h->align, " bytes aligned, freed as ", align);
  if (sized && h->size != size) die("size", h->size, " bytes, freed as ", size);
  h->tag = 0;
  std::free(static_cast<char *>(p) - h->offset);
}

std::size_t al(std::align_val_t a) { return static_cast<std::size_t>(a); }

} // namespace

void *operator new(std::size_t n) { return allocate(n, 0, false); }
void *operator new[](std::size_t n) { return allocate(n, 0, false); }
void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return allocate(n, 0, true); }
void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return allocate(n, 0, true); }
void *operator new(std::size_t n, std::align_val_t a) { return allocate(n, al(a), false); }
void *operator new[](std::size_t n, std::align_val_t a) { return allocate(n, al(a), false); }
void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
  return allocate(n, al(a), true);
}
void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
  return allocate(n, al(a), true);
}

void operator delete(void *p) noexcept { release(p, 0, false, 0); }
void operator delete[](void *p) noexcept { release(p, 0, false, 0); }
void operator delete(void *p, const std::nothrow_t &) noexcept { release(p, 0, false, 0); }
void operator delete[](void *p, const std::nothrow_t &) noexcept { release(p, 0, false, 0); }
void operator delete(void *p, std::size_t n) noexcept { release(p, 0, true, n); }
void operator delete[](void *p, std::size_t n) noexcept { release(p, 0, true, n); }
void operator delete(void *p, std::align_val_t a) noexcept { release(p, al(a), false, 0); }
void operator delete[](void *p, std::align_val_t a) noexcept { release(p, al(a), false, 0); }
void operator delete(void *p, std::align_val_t a, const std::nothrow_t &) noexcept { release(p, al(a), false, 0); }
void operator delete[](void *p, std::align_val_t a, const std::nothrow_t &) noexcept { release(p, al(a), false, 0); }
void operator delete(void *p, std::size_t n, std::align_val_t a) noexcept { release(p, al(a), true, n); }
void operator delete[](void *p, std::size_t n, std::align_val_t a) noexcept { release(p, al(a), true, n); }
