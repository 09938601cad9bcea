// File I/O and readiness polls through the ring, so that no reactor thread
// makes a blocking file syscall.
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "absl/time/clock.h"
#include "etrnd/common/check.h"
#include "etrnd/common/log.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/reactor/reactor_mesh.h"
#include "reactor_impl.h"

namespace etrnd::reactor {

void Reactor::WriteV(int fd, std::vector<iovec> iov, uint64_t offset,
                     std::function<void(int res)> done) {
  auto* op = impl_->NewFileOp(std::move(done), std::move(iov));
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_writev(sqe, fd, op->file_iov.data(), static_cast<unsigned>(op->file_iov.size()),
                       offset);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::WriteVDataSync(int fd, std::vector<iovec> iov, uint64_t offset,
                             std::function<void(int res)> done) {
  auto* op = impl_->NewFileOp(std::move(done), std::move(iov));
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_writev2(sqe, fd, op->file_iov.data(), static_cast<unsigned>(op->file_iov.size()),
                        offset, RWF_DSYNC);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::Fdatasync(int fd, std::function<void(int res)> done) {
  auto* op = impl_->NewFileOp(std::move(done));
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::Fsync(int fd, std::function<void(int res)> done) {
  auto* op = impl_->NewFileOp(std::move(done));
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_fsync(sqe, fd, 0);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::Read(int fd, void* buffer, size_t bytes, uint64_t offset,
                   std::function<void(int res)> done) {
  auto* op = impl_->NewFileOp(std::move(done));
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_read(sqe, fd, buffer, static_cast<unsigned>(bytes), offset);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::OpenAt(std::string path, int flags, mode_t mode, std::function<void(int res)> done) {
  auto* op = impl_->NewFileOp(std::move(done), {}, std::move(path));
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_openat(sqe, AT_FDCWD, op->path.c_str(), flags | O_CLOEXEC, mode);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::Unlink(std::string path, std::function<void(int res)> done) {
  auto* op = impl_->NewFileOp(std::move(done), {}, std::move(path));
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_unlinkat(sqe, AT_FDCWD, op->path.c_str(), 0);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::RenameAt(std::string from, std::string to, std::function<void(int res)> done) {
  // The new name lives in the completion callback until the kernel is done.
  auto new_name = std::make_shared<std::string>(std::move(to));
  auto* op = impl_->NewFileOp(
      [new_name, done = std::move(done)](int res) {
        if (done) done(res);
      },
      {}, std::move(from));
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_renameat(sqe, AT_FDCWD, op->path.c_str(), AT_FDCWD, new_name->c_str(), 0);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::Ftruncate(int fd, uint64_t length, std::function<void(int res)> done) {
  auto* op = impl_->NewFileOp(std::move(done));
  io_uring_sqe* sqe = impl_->GetSqe();
  // IORING_OP_FTRUNCATE (Linux 6.9) has no helper in liburing 2.3.
  io_uring_prep_rw(kOpFtruncate, sqe, fd, nullptr, 0, length);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

void Reactor::CloseFile(int fd, std::function<void(int res)> done) {
  auto* op = impl_->NewFileOp(std::move(done));
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_close(sqe, fd);
  io_uring_sqe_set_data(sqe, op);
  impl_->file_ops_in_flight++;
}

int Reactor::file_ops_in_flight() const { return impl_->file_ops_in_flight; }

Reactor::PollId Reactor::PollOnce(int fd, uint32_t events, std::function<void(int)> done) {
  PollId id = impl_->next_poll_id++;
  auto* op = new Operation{OpKind::kPoll, nullptr, std::move(done), {}, id, {}};
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_poll_add(sqe, fd, events);
  io_uring_sqe_set_data(sqe, op);
  impl_->polls.emplace(id, op);
  return id;
}

void Reactor::CancelPoll(PollId id) {
  auto it = impl_->polls.find(id);
  if (it == impl_->polls.end()) return;
  io_uring_sqe* sqe = impl_->GetSqe();
  io_uring_prep_poll_remove(sqe, reinterpret_cast<uint64_t>(it->second));
  // The removal's own completion needs no handling.
  io_uring_sqe_set_data(sqe, &IgnoredCompletion());
}

}  // namespace etrnd::reactor
