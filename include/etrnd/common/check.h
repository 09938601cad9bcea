// Always-on invariant checks (TigerBeetle style): a broken invariant crashes
// the process, and the spool makes a crash cheap; carrying on silently does
// not. Not compiled out in release builds.
#pragma once

#include <cstdio>
#include <cstdlib>

#define ETRND_CHECK(cond)                                                                    \
  do {                                                                                       \
    if (!(cond)) [[unlikely]] {                                                              \
      std::fprintf(stderr, "etrnd: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)
