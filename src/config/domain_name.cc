#include "etrnd/config/domain_name.h"

namespace etrnd::config {
namespace {

bool IsLetterOrDigit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

const char* LabelProblem(std::string_view label) {
  if (label.empty()) return "empty label";
  if (label.size() > kLabelOctetsMax) return "label longer than 63 octets";
  if (label.front() == '-' || label.back() == '-') return "label starts or ends with '-'";
  for (char c : label) {
    if (!IsLetterOrDigit(c) && c != '-') return "invalid character";
  }
  return nullptr;
}

bool IsAllDigits(std::string_view label) {
  for (char c : label) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

const char* DomainNameProblem(std::string_view name, size_t min_labels, size_t octets_max) {
  if (name.empty()) return "empty domain";
  if (name.size() > octets_max) return "domain too long";
  size_t labels = 0;
  std::string_view last_label;
  while (true) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (const char* problem = LabelProblem(label)) return problem;
    ++labels;
    last_label = label;
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  // An all-numeric top label is an IPv4-looking string, never a host name.
  if (IsAllDigits(last_label)) return "numeric top-level label";
  if (labels < min_labels) return "not a fully qualified domain";
  return nullptr;
}

bool IsValidQueueName(std::string_view name) {
  if (name.empty() || name.size() > kQueueNameOctetsMax) return false;
  for (char c : name) {
    if (!IsLetterOrDigit(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::string AsciiLower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

std::string NormalizeDomain(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return AsciiLower(name);
}

bool IsSameOrSubdomain(std::string_view domain, std::string_view root) {
  if (domain.size() == root.size()) return domain == root;
  return domain.size() > root.size() && domain.ends_with(root) &&
         domain[domain.size() - root.size() - 1] == '.';
}

}  // namespace etrnd::config
