// The spare next file of each spool appender, made through the ring so that
// a segment or completion-log roll never blocks the reactor: open O_EXCL,
// fsync of the directory (the name must be durable before a record in the
// file is acknowledged), then the fd goes to the appender.
#include <fcntl.h>

#include <cerrno>
#include <utility>

#include "etrnd/common/log.h"
#include "etrnd/server/core.h"

namespace etrnd::server {

void Core::PrepareSpoolSpare(spool::RecordLogAppender& appender) {
  std::optional<spool::SpareRequest> request = appender.TakeSpareRequest();
  if (!request.has_value()) return;
  spool::RecordLogAppender* target = &appender;
  reactor_->OpenAt(request->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640,
                   [this, target, id = request->file_id, path = request->path](int fd) {
                     if (fd < 0) {
                       target->SpareFailed(id, -fd);
                       return;
                     }
                     SyncSpoolDirectoryThen([this, target, id, fd, path](bool synced) {
                       if (synced) {
                         target->AdoptSpare(id, fd);
                         return;
                       }
                       // Its name may not be durable: never put a record in it.
                       reactor_->CloseFile(fd, [](int) {});
                       reactor_->Unlink(path, [](int) {});
                       target->SpareFailed(id, EIO);
                     });
                   });
}

}  // namespace etrnd::server
