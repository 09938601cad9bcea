// File helpers shared by the spool tests: whole-file read and write, and
// writing an appender's pending batches the way the reactor does.
#pragma once

#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "etrnd/spool/record_log_appender.h"
#include "gtest/gtest.h"

namespace etrnd::spool::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

inline void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Writes all pending batches with pwrite + fdatasync, marking them durable.
inline void Flush(RecordLogAppender& appender) {
  while (std::optional<SpoolBatch> batch = appender.TakeBatch()) {
    ASSERT_EQ(::pwrite(batch->fd, batch->bytes.data(), batch->bytes.size(),
                       static_cast<off_t>(batch->offset)),
              static_cast<ssize_t>(batch->bytes.size()));
    ASSERT_EQ(::fdatasync(batch->fd), 0);
    appender.BatchDurable(*batch);
  }
}

}  // namespace etrnd::spool::testing
