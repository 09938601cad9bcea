#include "etrnd/blaster/sink_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "etrnd/blaster/stats.h"

namespace etrnd::blaster {
namespace {

absl::Status MakeDirectory(const std::string& path) {
  if (mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("mkdir ", path, ": ", std::strerror(errno)));
}

absl::Status WriteFile(const std::string& path, std::string_view bytes) {
  const std::string temporary = absl::StrCat(path, ".tmp");
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("open ", temporary, ": ", std::strerror(errno)));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      close(fd);
      return absl::InternalError(absl::StrCat("write ", temporary, ": ", std::strerror(error)));
    }
    written += static_cast<size_t>(n);
  }
  close(fd);
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SinkStore::Prepare(const std::string& dir) { return MakeDirectory(dir); }

std::string SinkStore::DirectoryNameFor(std::string_view domain) {
  if (domain.empty() || domain == "." || domain == "..") return "_none";
  std::string name(domain);
  for (char& c : name) {
    if (c == '/' || c == '\0') c = '_';
  }
  return name;
}

absl::Status SinkStore::Store(const ReceivedMessage& message) {
  std::map<std::string, std::vector<const std::string*>> by_domain;
  for (const std::string& recipient : message.recipients) {
    by_domain[DirectoryNameFor(RecipientDomain(recipient))].push_back(&recipient);
  }
  for (const auto& [directory, recipients] : by_domain) {
    const std::string domain_dir = absl::StrCat(dir_, "/", directory);
    if (absl::Status status = MakeDirectory(domain_dir); !status.ok()) return status;
    const std::string base = absl::StrFormat("%s/%08d", domain_dir, next_number_.fetch_add(1));
    std::string envelope = absl::StrCat("MAIL FROM:<", message.mail_from, ">\n");
    for (const std::string* recipient : recipients) {
      absl::StrAppend(&envelope, "RCPT TO:<", *recipient, ">\n");
    }
    if (absl::Status status = WriteFile(base + ".env", envelope); !status.ok()) return status;
    if (absl::Status status = WriteFile(base + ".eml", message.content); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

}  // namespace etrnd::blaster
