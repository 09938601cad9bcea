#include "etrnd/common/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etrnd/common/log_rate_bound.h"
#include "etrnd/common/repeat_summarizer.h"
#include "etrnd/common/strings.h"

namespace etrnd {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
thread_local int t_thread_index = -1;
LogRateBound g_rate_bound;
// Per thread: no lock and no sharing between reactor threads.
thread_local RepeatSummarizer t_repeats;
thread_local absl::Time t_next_repeat_sweep = absl::InfinitePast();

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

namespace {

void WriteFormatted(LogLevel level, std::string_view message, absl::Time now) {
  std::string line = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone());
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

std::string SecondsText(absl::Duration duration) {
  return absl::StrFormat("%.1fs", absl::ToDoubleSeconds(duration));
}

}  // namespace

void SetLogLinesPerSecondMax(uint32_t lines_per_second_max) {
  g_rate_bound.SetLinesPerSecondMax(lines_per_second_max);
}

void WriteLogLine(LogLevel level, std::string_view message) {
  absl::Time now = absl::Now();
  LogRateBound::Verdict verdict = g_rate_bound.Admit(now);
  if (verdict.suppressed_to_report > 0) {
    WriteFormatted(
        LogLevel::kWarning,
        absl::StrCat(verdict.suppressed_to_report, " log lines suppressed (over --log_rate_max)"),
        now);
  }
  if (verdict.write) WriteFormatted(level, message, now);
}

void FlushRepeatedLogEvents() {
  absl::Time now = absl::Now();
  t_next_repeat_sweep = now + kRepeatIntervalDefault;
  for (const RepeatSummarizer::Summary& summary : t_repeats.TakeDue(now)) {
    LogLevel summary_level = static_cast<LogLevel>(summary.level);
    if (!ShouldLog(summary_level)) continue;
    WriteLogLine(summary_level,
                 absl::StrCat(summary.event, " from ", summary.client, ": ", summary.suppressed,
                              " more in the last ", SecondsText(summary.over)));
  }
}

bool AdmitRepeatedLogEvent(LogLevel level, std::string_view event, std::string_view client,
                           std::string* suffix) {
  absl::Time now = absl::Now();
  // Repeats that stopped are summarised here too, at most once per interval.
  if (now >= t_next_repeat_sweep) FlushRepeatedLogEvents();
  uint64_t suppressed = 0;
  absl::Duration over;
  if (!t_repeats.Admit(event, client, static_cast<int>(level), now, &suppressed, &over)) {
    return false;
  }
  if (suppressed > 0) {
    *suffix = absl::StrCat(" (", suppressed, " more in the last ", SecondsText(over), ")");
  }
  return true;
}

}  // namespace etrnd
