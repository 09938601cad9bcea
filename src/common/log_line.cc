#include "etrnd/common/log_line.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace etrnd {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

const char* TextLevelName(LogLevel level) {
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

// The names --log_level accepts, so a filter reads like the flag.
const char* JsonLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

void AppendEscapedByte(std::string* out, const char* prefix, unsigned char byte) {
  out->append(prefix);
  out->push_back(kHexDigits[byte >> 4]);
  out->push_back(kHexDigits[byte & 0xF]);
}

bool IsContinuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF) at the start of `text`, 0 if none.
size_t Utf8SequenceLength(std::string_view text) {
  auto at = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = at(0);
  size_t length = 0;
  unsigned char second_min = 0x80, second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (at(1) < second_min || at(1) > second_max) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (!IsContinuation(at(i))) return 0;
  }
  return length;
}

void AppendJsonField(std::string* out, const LogField& field) {
  out->push_back(',');
  AppendJsonString(out, field.key);
  out->push_back(':');
  if (field.is_number) {
    absl::StrAppend(out, field.number);
  } else {
    AppendJsonString(out, field.text);
  }
}

}  // namespace

bool ParseLogFormat(std::string_view text, LogFormat* format) {
  if (text == "text") {
    *format = LogFormat::kText;
  } else if (text == "json") {
    *format = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

void AppendJsonString(std::string* out, std::string_view text) {
  out->push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7F && byte != '"' && byte != '\\') {
      out->push_back(static_cast<char>(byte));
      ++i;
      continue;
    }
    if (byte < 0x80) {
      switch (byte) {
        case '"':
          out->append("\\\"");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        default:  // other control bytes and DEL
          AppendEscapedByte(out, "\\u00", byte);
      }
      ++i;
      continue;
    }
    const size_t length = Utf8SequenceLength(text.substr(i));
    if (length == 0) {
      AppendEscapedByte(out, "\\u00", byte);
      ++i;
      continue;
    }
    // U+2028/U+2029 are valid JSON but end a line for some JavaScript readers.
    if (length == 3 && byte == 0xE2 && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
        (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
      out->append(text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029");
    } else {
      out->append(text.data() + i, length);
    }
    i += length;
  }
  out->push_back('"');
}

void AppendLogText(std::string* out, std::string_view text) {
  size_t clean = 0;  // bytes at the front needing no escape: the usual case
  while (clean < text.size()) {
    const unsigned char byte = static_cast<unsigned char>(text[clean]);
    if (byte < 0x20 || byte == 0x7F) break;
    ++clean;
  }
  out->append(text.data(), clean);
  for (size_t i = clean; i < text.size(); ++i) {
    const unsigned char byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7F) {
      AppendEscapedByte(out, "\\x", byte);
    } else {
      out->push_back(static_cast<char>(byte));
    }
  }
}

namespace {

// "2026-12-04T21:15:15.775Z". absl::FormatTime (cctz) costs microseconds a
// call; a storm of flushes writes thousands of lines a second, so each
// thread formats the date and time once per second and adds the
// milliseconds itself.
std::string LogTimestamp(absl::Time time) {
  thread_local int64_t cached_second = INT64_MIN;
  thread_local std::string cached_prefix;  // "2026-12-04T21:15:15."
  const int64_t millis = absl::ToUnixMillis(time);
  const int64_t second = millis >= 0 ? millis / 1000 : (millis - 999) / 1000;
  if (second != cached_second) {
    cached_second = second;
    cached_prefix =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S.", absl::FromUnixSeconds(second), absl::UTCTimeZone());
  }
  const int64_t ms = millis - second * 1000;
  std::string out = cached_prefix;
  out.push_back(static_cast<char>('0' + ms / 100));
  out.push_back(static_cast<char>('0' + ms / 10 % 10));
  out.push_back(static_cast<char>('0' + ms % 10));
  out.push_back('Z');
  return out;
}

}  // namespace

std::string FormatLogLine(LogFormat format, const LogLineParts& parts) {
  const std::string time = LogTimestamp(parts.time);
  std::string line;
  line.reserve(64 + parts.message.size() +
               (format == LogFormat::kJson ? 32 * parts.fields.size() : 0));
  if (format == LogFormat::kText) {
    absl::StrAppend(&line, time, " ", TextLevelName(parts.level), " ");
    if (parts.thread_index < 0) {
      line.append("[main] ");
    } else {
      absl::StrAppend(&line, "[t", parts.thread_index, "] ");
    }
    AppendLogText(&line, parts.message);
    line.push_back('\n');
    return line;
  }
  absl::StrAppend(&line, "{\"ts\":\"", time, "\",\"level\":\"", JsonLevelName(parts.level),
                  "\",\"thread\":");
  if (parts.thread_index < 0) {
    line.append("\"main\"");
  } else {
    absl::StrAppend(&line, "\"t", parts.thread_index, "\"");
  }
  if (!parts.event.empty()) {
    line.append(",\"event\":");
    AppendJsonString(&line, parts.event);
  }
  for (const LogField& field : parts.fields) AppendJsonField(&line, field);
  line.append(",\"msg\":");
  AppendJsonString(&line, parts.message);
  line.append("}\n");
  return line;
}

}  // namespace etrnd
