#include "etrnd/server/spool_ring_reader.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <tuple>
#include <utility>

#include "etrnd/common/check.h"
#include "etrnd/spool/spool_files.h"

namespace etrnd::server {
namespace {

struct ReadJob {
  reactor::Reactor* reactor = nullptr;
  std::string spool_dir;
  std::vector<spool::RecordLocation> locations;
  size_t bytes_max = 0;
  std::vector<size_t> order;  // by file, then offset
  std::vector<std::string> buffers;
  std::vector<absl::Status> errors;
  size_t next = 0;  // into order
  size_t in_flight = 0;
  bool opening = false;
  bool finished = false;
  int fd = -1;
  spool::SegmentKey open_segment{UINT32_MAX, UINT64_MAX};
  std::function<void(std::vector<absl::StatusOr<std::string>>)> done;
};

spool::SegmentKey SegmentOf(const spool::RecordLocation& location) {
  return spool::SegmentKey{location.core, location.segment_id};
}

void Advance(const std::shared_ptr<ReadJob>& job);

void CloseCurrent(ReadJob& job) {
  if (job.fd >= 0) job.reactor->CloseFile(job.fd, nullptr);
  job.fd = -1;
}

void Open(const std::shared_ptr<ReadJob>& job, spool::SegmentKey segment) {
  ETRND_CHECK(job->in_flight == 0 && !job->opening);
  CloseCurrent(*job);
  job->opening = true;
  std::string path = spool::SegmentPath(job->spool_dir, segment.core, segment.segment_id);
  job->reactor->OpenAt(path, O_RDONLY, 0, [job, segment, path](int result) {
    job->opening = false;
    job->open_segment = segment;
    if (result >= 0) {
      job->fd = result;
    } else {
      // Every record of this file fails alike.
      while (job->next < job->order.size() &&
             SegmentOf(job->locations[job->order[job->next]]) == segment) {
        job->errors[job->order[job->next]] = spool::ErrnoStatus(-result, "open", path);
        ++job->next;
      }
    }
    Advance(job);
  });
}

void Finish(const std::shared_ptr<ReadJob>& job) {
  job->finished = true;
  CloseCurrent(*job);
  std::vector<absl::StatusOr<std::string>> results;
  results.reserve(job->locations.size());
  for (size_t i = 0; i < job->locations.size(); ++i) {
    if (job->errors[i].ok()) {
      results.emplace_back(std::move(job->buffers[i]));
    } else {
      results.emplace_back(job->errors[i]);
    }
  }
  auto done = std::move(job->done);
  done(std::move(results));
}

void Advance(const std::shared_ptr<ReadJob>& job) {
  if (job->finished || job->opening) return;
  while (job->next < job->order.size() && job->in_flight < kRingReadsInFlightMax) {
    const size_t index = job->order[job->next];
    const spool::RecordLocation& location = job->locations[index];
    if (!(SegmentOf(location) == job->open_segment)) {
      // Reads of the current file finish before it is closed.
      if (job->in_flight == 0) Open(job, SegmentOf(location));
      return;
    }
    ++job->next;
    if (job->fd < 0) continue;  // its open failed: error recorded
    size_t bytes = location.length;
    if (job->bytes_max > 0) bytes = std::min(bytes, job->bytes_max);
    job->buffers[index].resize(bytes);
    ++job->in_flight;
    job->reactor->Read(job->fd, job->buffers[index].data(), bytes, location.offset,
                       [job, index, bytes](int result) {
                         ETRND_CHECK(job->in_flight > 0);
                         --job->in_flight;
                         if (result < 0) {
                           job->errors[index] = spool::ErrnoStatus(-result, "read", "segment");
                         } else if (static_cast<size_t>(result) != bytes) {
                           job->errors[index] = absl::DataLossError("short read of a record");
                         }
                         Advance(job);
                       });
  }
  if (job->next == job->order.size() && job->in_flight == 0) Finish(job);
}

}  // namespace

void ReadSpoolRecords(reactor::Reactor& reactor, std::string spool_dir,
                      std::vector<spool::RecordLocation> locations, size_t bytes_max,
                      std::function<void(std::vector<absl::StatusOr<std::string>>)> done) {
  auto job = std::make_shared<ReadJob>();
  job->reactor = &reactor;
  job->spool_dir = std::move(spool_dir);
  job->locations = std::move(locations);
  job->bytes_max = bytes_max;
  job->buffers.resize(job->locations.size());
  job->errors.resize(job->locations.size());
  job->order.resize(job->locations.size());
  std::iota(job->order.begin(), job->order.end(), size_t{0});
  std::sort(job->order.begin(), job->order.end(), [&](size_t a, size_t b) {
    const spool::RecordLocation& x = job->locations[a];
    const spool::RecordLocation& y = job->locations[b];
    return std::tie(x.core, x.segment_id, x.offset) < std::tie(y.core, y.segment_id, y.offset);
  });
  job->done = std::move(done);
  Advance(job);
}

}  // namespace etrnd::server
