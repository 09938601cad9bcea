#include "etrnd/server/holds_store.h"

#include <fcntl.h>
#include <sys/uio.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <sstream>

#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/control/holds_file.h"
#include "etrnd/spool/spool_files.h"

namespace etrnd::server {

HoldsStore::HoldsStore(reactor::Reactor& reactor, std::string spool_dir,
                       std::vector<std::string> holds)
    : reactor_(reactor), spool_dir_(std::move(spool_dir)), holds_(holds.begin(), holds.end()) {}

absl::StatusOr<std::vector<std::string>> HoldsStore::Load(const std::string& spool_dir) {
  const std::string path = spool_dir + "/" + std::string(control::kHoldsFileName);
  std::ifstream file(path, std::ios::binary);
  if (!file.is_open()) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return spool::ErrnoStatus(errno, "open", path);
  }
  std::stringstream text;
  text << file.rdbuf();
  absl::StatusOr<std::vector<std::string>> holds = control::ParseHolds(text.str());
  if (!holds.ok())
    return absl::InvalidArgumentError(path + ": " + std::string(holds.status().message()));
  return holds;
}

void HoldsStore::Change(std::string domain, bool held, std::function<void(absl::Status)> done) {
  if (pending_.size() >= kHoldChangesQueuedMax) {
    done(absl::ResourceExhaustedError("too many hold/release requests waiting"));
    return;
  }
  if (held && !holds_.contains(domain) && holds_.size() >= control::kHoldsMax) {
    done(absl::ResourceExhaustedError("too many holds"));
    return;
  }
  pending_.push_back(PendingChange{std::move(domain), held, std::move(done)});
  if (!writing_) StartNext();
}

// One change: apply it, then temp file -> write -> fdatasync -> close ->
// rename -> fsync of the directory.
void HoldsStore::StartNext() {
  ETRND_CHECK(!writing_ && !pending_.empty());
  writing_ = true;
  PendingChange& change = pending_.front();
  previous_held_ = holds_.contains(change.domain);
  if (change.held) {
    holds_.insert(change.domain);
  } else {
    holds_.erase(change.domain);
  }
  auto text = std::make_shared<std::string>(
      control::EncodeHolds(std::vector<std::string>(holds_.begin(), holds_.end())));
  const std::string temp = spool_dir_ + "/" + std::string(control::kHoldsTempFileName);
  const std::string final_path = spool_dir_ + "/" + std::string(control::kHoldsFileName);
  auto fail = [this](int error, const std::string& what, const std::string& path) {
    Finished(spool::ErrnoStatus(error, what, path));
  };
  reactor_.OpenAt(temp, O_WRONLY | O_CREAT | O_TRUNC, 0600, [=, this](int fd) {
    if (fd < 0) return fail(-fd, "open", temp);
    std::vector<iovec> iov{{text->data(), text->size()}};
    reactor_.WriteV(fd, std::move(iov), 0, [=, this](int written) {
      if (written != static_cast<int>(text->size())) {
        reactor_.CloseFile(fd, nullptr);
        return fail(written < 0 ? -written : ENOSPC, "write", temp);
      }
      reactor_.Fdatasync(fd, [=, this](int synced) {
        reactor_.CloseFile(fd, nullptr);
        if (synced < 0) return fail(-synced, "fdatasync", temp);
        reactor_.RenameAt(temp, final_path, [=, this](int renamed) {
          if (renamed < 0) return fail(-renamed, "rename", temp);
          reactor_.OpenAt(spool_dir_, O_RDONLY | O_DIRECTORY, 0, [=, this](int dir) {
            if (dir < 0) return fail(-dir, "open directory", spool_dir_);
            reactor_.Fsync(dir, [=, this](int dir_synced) {
              reactor_.CloseFile(dir, nullptr);
              if (dir_synced < 0) return fail(-dir_synced, "fsync directory", spool_dir_);
              Finished(absl::OkStatus());
            });
          });
        });
      });
    });
  });
}

void HoldsStore::Finished(absl::Status status) {
  ETRND_CHECK(writing_ && !pending_.empty());
  PendingChange change = std::move(pending_.front());
  pending_.pop_front();
  if (!status.ok()) {
    // Not durable: the set goes back to what the file says.
    if (previous_held_) {
      holds_.insert(change.domain);
    } else {
      holds_.erase(change.domain);
    }
    ETRND_LOG_ERROR("holds file not written: %s", std::string(status.message()));
  }
  writing_ = false;
  change.done(status);
  if (!writing_ && !pending_.empty()) StartNext();
}

}  // namespace etrnd::server
