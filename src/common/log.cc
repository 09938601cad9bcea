#include "etrnd/common/log.h"

#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etrnd/common/log_rate_bound.h"
#include "etrnd/common/log_writer.h"
#include "etrnd/common/repeat_summarizer.h"
#include "etrnd/common/strings.h"

namespace etrnd {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};
thread_local int t_thread_index = -1;
LogRateBound g_rate_bound;
// Per thread: no lock and no sharing between reactor threads.
thread_local RepeatSummarizer t_repeats;
thread_local absl::Time t_next_repeat_sweep = absl::InfinitePast();

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

void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }

LogFormat GetLogFormat() {
  return static_cast<LogFormat>(g_format.load(std::memory_order_relaxed));
}

void SetLogThreadIndex(int index) { t_thread_index = index; }

int LogThreadIndex() { return t_thread_index; }

namespace {

void WriteFormatted(LogLevel level, std::string_view event, std::span<const LogField> fields,
                    std::string_view message, absl::Time now) {
  const std::string line =
      FormatLogLine(GetLogFormat(), LogLineParts{.time = now,
                                                 .level = level,
                                                 .thread_index = t_thread_index,
                                                 .event = event,
                                                 .fields = fields,
                                                 .message = message});
  // A reactor hands the line to the log writer thread; elsewhere a single
  // write keeps lines whole across threads (a short write of a log line is
  // not worth retrying).
  if (QueueLogLine(line)) return;
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

std::string SecondsText(absl::Duration duration) {
  return absl::StrFormat("%.1fs", absl::ToDoubleSeconds(duration));
}

}  // namespace

void SetLogLinesPerSecondMax(uint32_t lines_per_second_max) {
  g_rate_bound.SetLinesPerSecondMax(lines_per_second_max);
}

bool AdmitLogLine() {
  absl::Time now = absl::Now();
  LogRateBound::Verdict verdict = g_rate_bound.Admit(now);
  if (verdict.suppressed_to_report > 0) {
    const LogField report_fields[] = {{"count", verdict.suppressed_to_report}};
    WriteFormatted(
        LogLevel::kWarning, "suppressed", report_fields,
        absl::StrCat(verdict.suppressed_to_report, " log lines suppressed (over --log_rate_max)"),
        now);
  }
  return verdict.write;
}

void WriteAdmittedLogEvent(LogLevel level, std::string_view event, std::span<const LogField> fields,
                           std::string_view message) {
  WriteFormatted(level, event, fields, message, absl::Now());
}

void WriteLogEvent(LogLevel level, std::string_view event, std::span<const LogField> fields,
                   std::string_view message) {
  if (AdmitLogLine()) WriteAdmittedLogEvent(level, event, fields, message);
}

void WriteLogLine(LogLevel level, std::string_view message) {
  WriteLogEvent(level, "", {}, message);
}

void FlushRepeatedLogEvents() {
  absl::Time now = absl::Now();
  t_next_repeat_sweep = now + kRepeatIntervalDefault;
  for (const RepeatSummarizer::Summary& summary : t_repeats.TakeDue(now)) {
    LogLevel summary_level = static_cast<LogLevel>(summary.level);
    if (!ShouldLog(summary_level)) continue;
    const LogField fields[] = {{"repeated", summary.event},
                               {"client", summary.client},
                               {"count", summary.suppressed},
                               {"over_ms", absl::ToInt64Milliseconds(summary.over)}};
    WriteLogEvent(summary_level, "summary", fields,
                  absl::StrCat(summary.event, " from ", summary.client, ": ", summary.suppressed,
                               " more in the last ", SecondsText(summary.over)));
  }
}

bool AdmitRepeatedLogEvent(LogLevel level, std::string_view event, std::string_view client,
                           LogRepeats* repeats) {
  absl::Time now = absl::Now();
  // Repeats that stopped are summarised here too, at most once per interval.
  if (now >= t_next_repeat_sweep) FlushRepeatedLogEvents();
  return t_repeats.Admit(event, client, static_cast<int>(level), now, &repeats->suppressed,
                         &repeats->over);
}

void WriteRepeatedLogEvent(LogLevel level, std::string_view event, std::span<const LogField> fields,
                           std::string message, const LogRepeats& repeats) {
  if (repeats.suppressed == 0) {
    WriteLogEvent(level, event, fields, message);
    return;
  }
  absl::StrAppend(&message, " (", repeats.suppressed, " more in the last ",
                  SecondsText(repeats.over), ")");
  // Rare (once a second per busy key): copying the fields is fine here.
  std::vector<LogField> with_count(fields.begin(), fields.end());
  with_count.emplace_back("more", repeats.suppressed);
  WriteLogEvent(level, event, with_count, message);
}

}  // namespace etrnd
