#include "etrnd/common/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etrnd/common/strings.h"

namespace etrnd {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
thread_local int t_thread_index = -1;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}

}  // namespace

bool ParseLogLevel(std::string_view text, LogLevel* level) {
  if (text == "debug")
    *level = LogLevel::kDebug;
  else if (text == "info")
    *level = LogLevel::kInfo;
  else if (text == "warning" || text == "warn")
    *level = LogLevel::kWarning;
  else if (text == "error")
    *level = LogLevel::kError;
  else
    return false;
  return true;
}

void SetLogLevel(LogLevel level) { g_min_level.store(static_cast<int>(level)); }

bool ShouldLog(LogLevel level) {
  return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed);
}

void SetLogThreadIndex(int index) { t_thread_index = index; }

void WriteLogLine(LogLevel level, std::string_view message) {
  std::string line = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  if (t_thread_index < 0) {
    absl::StrAppend(&line, " ", LevelName(level), " [main] ", AsAbsl(message), "\n");
  } else {
    absl::StrAppend(&line, " ", LevelName(level), " [t", t_thread_index, "] ", AsAbsl(message),
                    "\n");
  }
  // A single write keeps lines whole across threads; a short write of a log
  // line is not worth retrying.
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace etrnd
