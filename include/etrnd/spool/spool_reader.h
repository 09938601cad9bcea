// Reads message records back from the spool through a core's ring (no
// blocking syscall on the reactor thread). One per core, single-threaded.
//
// - Segment fds are cached (LRU, at most open_segments_max), opened with
//   Reactor::OpenAt and closed with Reactor::CloseFile. GC evicts a segment
//   (EvictSegment) before it unlinks it.
// - At most reads_in_flight_max reads are in the ring; further requests wait
//   in a queue and are started in the order they were asked for.
// - A read takes the record in one Reactor::Read when the location knows its
//   length, else the header first and then the rest; the header CRC, payload
//   CRC and payload are checked by the pure decoder (spool_record.h).
// - ReadPrefix hands back the first bytes of a record as stored, unchecked
//   (a prefix has no CRC of its own): etrnctl's glance at an envelope.
// - `done` always runs later from the reactor, never inside Read().
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/spool/spool_files.h"
#include "etrnd/spool/spool_record.h"

namespace etrnd::spool {

inline constexpr size_t kOpenSegmentsMax = 64;
inline constexpr size_t kReadsInFlightMax = 32;
// Waiting requests. Callers bound what they ask for (a flush job's read-ahead
// window, the expiry sweep's slice); this is the check on that.
inline constexpr size_t kQueuedReadsMax = size_t{1} << 21;

class SpoolReader {
 public:
  using Done = std::function<void(absl::StatusOr<SpoolMessage>)>;
  using BytesDone = std::function<void(absl::StatusOr<std::string>)>;
  struct Options {
    size_t open_segments_max = kOpenSegmentsMax;
    size_t reads_in_flight_max = kReadsInFlightMax;  // at most open_segments_max
  };

  SpoolReader(reactor::Reactor& reactor, std::string spool_dir);
  SpoolReader(reactor::Reactor& reactor, std::string spool_dir, Options options);
  SpoolReader(const SpoolReader&) = delete;
  SpoolReader& operator=(const SpoolReader&) = delete;
  // Closes what is still open with close(2): only after the loop has ended.
  ~SpoolReader();

  // DataLoss when the record does not check out, the errno of a failed open
  // or read otherwise, Cancelled after Shutdown().
  void Read(const RecordLocation& location, Done done);
  // At most `bytes_max` (> 0) bytes from the record's start, through the
  // same fd cache and in-flight bound as Read().
  void ReadPrefix(const RecordLocation& location, size_t bytes_max, BytesDone done);
  // Closes the segment's cached fd (once its reads in flight are done).
  void EvictSegment(SegmentKey segment);
  // Cancels waiting requests and closes every fd through the ring.
  void Shutdown();

  reactor::Reactor& reactor() { return reactor_; }
  size_t reads_in_flight() const { return reads_in_flight_; }
  uint64_t reads_started() const { return reads_started_; }  // ever
  size_t reads_queued() const { return queued_.size(); }
  size_t open_segments() const { return segments_.size(); }

 private:
  struct Segment;
  struct Request {
    RecordLocation location;
    Done done;             // a whole record, decoded
    size_t prefix_bytes;   // > 0: ReadPrefix
    BytesDone bytes_done;  // ReadPrefix's
  };
  struct Active;

  void Pump();
  void Start(std::shared_ptr<Active> active);
  void OnOpened(SegmentKey key, const std::shared_ptr<Segment>& segment, int result);
  void ReadRange(std::shared_ptr<Active> active, size_t from);
  void OnRead(std::shared_ptr<Active> active, size_t from, int result);
  void Decode(std::shared_ptr<Active> active);
  void Finish(std::shared_ptr<Active> active, absl::StatusOr<SpoolMessage> result);
  void FinishBytes(std::shared_ptr<Active> active, absl::StatusOr<std::string> result);
  void Settle(Active& active);
  void MakeRoom();
  void Release(const std::shared_ptr<Segment>& segment);
  void Close(Segment& segment);
  void Touch(Segment& segment);
  void FailLater(Request request, absl::Status status);

  reactor::Reactor& reactor_;
  const std::string spool_dir_;
  const Options options_;
  absl::flat_hash_map<SegmentKey, std::shared_ptr<Segment>> segments_;
  std::list<SegmentKey> lru_;  // front: most recently used
  std::deque<Request> queued_;
  size_t reads_in_flight_ = 0;
  uint64_t reads_started_ = 0;
  bool shut_down_ = false;
};

// The first `bytes_max` bytes of each record (SpoolReader::ReadPrefix), at
// most kBatchReadsOutstandingMax asked of the reader at once, so a long
// list never fills its queue; done gets one entry per location, in order.
inline constexpr size_t kBatchReadsOutstandingMax = 64;
void ReadPrefixes(SpoolReader& reader, std::vector<RecordLocation> locations, size_t bytes_max,
                  std::function<void(std::vector<absl::StatusOr<std::string>>)> done);

}  // namespace etrnd::spool
