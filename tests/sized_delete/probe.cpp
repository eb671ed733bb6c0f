// The sized-delete interposer's own test (tests/distributed.rs): `right`
// allocates and frees through every variant of operator new and delete with
// matching sizes and alignments, and prints "freed"; `size`, `array` and
// `aligned` each free one block by sized delete with another size, which the
// interposer must stop (abort) before "freed" is printed. Without the
// interposer, glibc frees all of them silently.
//
// Built by the test: c++ -std=c++17 -O0 -fsized-deallocation probe.cpp.

#include <cstdio>
#include <cstring>
#include <new>

int main(int argc, char **argv) {
  const char *c = argc > 1 ? argv[1] : "";
  const std::align_val_t a{64};
  if (std::strcmp(c, "right") == 0) {
    ::operator delete(::operator new(64), 64);
    ::operator delete[](::operator new[](64), 64);
    ::operator delete(::operator new(64));
    ::operator delete[](::operator new[](64));
    ::operator delete(::operator new(64, std::nothrow), std::nothrow);
    ::operator delete[](::operator new[](64, std::nothrow), std::nothrow);
    ::operator delete(::operator new(64, a), 64, a);
    ::operator delete[](::operator new[](64, a), 64, a);
    ::operator delete(::operator new(64, a), a);
    ::operator delete[](::operator new[](64, a), a);
    ::operator delete(::operator new(64, a, std::nothrow), a, std::nothrow);
    ::operator delete[](::operator new[](64, a, std::nothrow), a, std::nothrow);
    int *n = new int[5];
    delete[] n;
  } else if (std::strcmp(c, "size") == 0) {
    ::operator delete(::operator new(65536), 488);
  } else if (std::strcmp(c, "array") == 0) {
    ::operator delete[](::operator new[](64), 32);
  } else if (std::strcmp(c, "aligned") == 0) {
    ::operator delete(::operator new(64, a), 128, a);
  } else {
    std::fputs("usage: probe right|size|array|aligned\n", stderr);
    return 2;
  }
  std::puts("freed");
  return 0;
}
