// Always-on invariant assertion: a broken invariant crashes at once (the spool
// makes a crash cheap) instead of corrupting state further.
#pragma once

#include <cstdio>
#include <cstdlib>

#define ETRND_CHECK(cond)                                                                 \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: ETRND_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)
