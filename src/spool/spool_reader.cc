#include "etrnd/spool/spool_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "etrnd/common/check.h"

namespace etrnd::spool {

struct SpoolReader::Segment {
  int fd = -1;           // -1 while the open is in flight
  size_t users = 0;      // started reads that need the fd
  bool evicted = false;  // out of the cache: close when the last user is done
  std::list<SegmentKey>::iterator lru;
  std::vector<std::shared_ptr<Active>> waiting_open;
};

struct SpoolReader::Active {
  RecordLocation location;
  Done done;
  size_t prefix_bytes = 0;  // > 0: ReadPrefix, answered through bytes_done
  BytesDone bytes_done;
  std::shared_ptr<Segment> segment;
  std::string buffer;
  bool header_only = false;  // length unknown: the header is read first
};

SpoolReader::SpoolReader(reactor::Reactor& reactor, std::string spool_dir)
    : SpoolReader(reactor, std::move(spool_dir), Options{}) {}

SpoolReader::SpoolReader(reactor::Reactor& reactor, std::string spool_dir, Options options)
    : reactor_(reactor), spool_dir_(std::move(spool_dir)), options_(options) {
  // Every read in flight pins one cached segment; with fewer slots than
  // reads, a new segment could find nothing to evict.
  ETRND_CHECK(options_.reads_in_flight_max > 0);
  ETRND_CHECK(options_.reads_in_flight_max <= options_.open_segments_max);
}

SpoolReader::~SpoolReader() {
  for (auto& [key, segment] : segments_) {
    if (segment->fd >= 0) ::close(segment->fd);
  }
}

void SpoolReader::Read(const RecordLocation& location, Done done) {
  Request request{location, std::move(done), 0, nullptr};
  if (shut_down_) {
    FailLater(std::move(request), absl::CancelledError("spool reader shut down"));
    return;
  }
  ETRND_CHECK(queued_.size() < kQueuedReadsMax);
  queued_.push_back(std::move(request));
  Pump();
}

void SpoolReader::ReadPrefix(const RecordLocation& location, size_t bytes_max, BytesDone done) {
  ETRND_CHECK(bytes_max > 0);
  Request request{location, nullptr, bytes_max, std::move(done)};
  if (shut_down_) {
    FailLater(std::move(request), absl::CancelledError("spool reader shut down"));
    return;
  }
  ETRND_CHECK(queued_.size() < kQueuedReadsMax);
  queued_.push_back(std::move(request));
  Pump();
}

void SpoolReader::FailLater(Request request, absl::Status status) {
  reactor_.Post([request = std::move(request), status = std::move(status)] {
    if (request.bytes_done) {
      request.bytes_done(status);
    } else {
      request.done(status);
    }
  });
}

void SpoolReader::Pump() {
  while (reads_in_flight_ < options_.reads_in_flight_max && !queued_.empty()) {
    auto active = std::make_shared<Active>();
    active->location = queued_.front().location;
    active->done = std::move(queued_.front().done);
    active->prefix_bytes = queued_.front().prefix_bytes;
    active->bytes_done = std::move(queued_.front().bytes_done);
    queued_.pop_front();
    ++reads_in_flight_;
    ++reads_started_;
    Start(std::move(active));
  }
  ETRND_CHECK(reads_in_flight_ <= options_.reads_in_flight_max);
}

void SpoolReader::Start(std::shared_ptr<Active> active) {
  const SegmentKey key{active->location.core, active->location.segment_id};
  auto it = segments_.find(key);
  if (it == segments_.end()) {
    MakeRoom();
    auto segment = std::make_shared<Segment>();
    lru_.push_front(key);
    segment->lru = lru_.begin();
    it = segments_.emplace(key, segment).first;
    reactor_.OpenAt(SegmentPath(spool_dir_, key.core, key.segment_id), O_RDONLY | O_CLOEXEC, 0,
                    [this, key, segment](int result) { OnOpened(key, segment, result); });
  }
  std::shared_ptr<Segment> segment = it->second;
  ETRND_CHECK(segments_.size() <= options_.open_segments_max);
  Touch(*segment);
  ++segment->users;
  active->segment = segment;
  if (segment->fd < 0) {
    segment->waiting_open.push_back(std::move(active));
    return;
  }
  ReadRange(std::move(active), 0);
}

void SpoolReader::OnOpened(SegmentKey key, const std::shared_ptr<Segment>& segment, int result) {
  std::vector<std::shared_ptr<Active>> waiting = std::move(segment->waiting_open);
  ETRND_CHECK(!waiting.empty());  // the read that opened it waits here
  if (result < 0) {
    // Not cached: a later read tries again (the file may be gone for good).
    if (!segment->evicted) {
      lru_.erase(segment->lru);
      segments_.erase(key);
      segment->evicted = true;
    }
    const std::string path = SegmentPath(spool_dir_, key.core, key.segment_id);
    for (auto& active : waiting) {
      Finish(active, ErrnoStatus(-result, "open", path));
    }
    return;
  }
  segment->fd = result;
  for (auto& active : waiting) ReadRange(active, 0);
}

void SpoolReader::ReadRange(std::shared_ptr<Active> active, size_t from) {
  if (from == 0 && active->buffer.empty()) {
    active->header_only = active->location.length == 0;
    active->buffer.resize(active->header_only ? kRecordHeaderBytes : active->location.length);
    if (active->location.length != 0 && active->location.length < kRecordHeaderBytes) {
      Finish(active, absl::DataLossError("record length below its header"));
      return;
    }
    if (active->prefix_bytes > 0 && !active->header_only) {
      active->buffer.resize(std::min(active->buffer.size(), active->prefix_bytes));
    }
  }
  Active* raw = active.get();
  reactor_.Read(raw->segment->fd, raw->buffer.data() + from, raw->buffer.size() - from,
                raw->location.offset + from,
                [this, active = std::move(active), from](int result) mutable {
                  OnRead(std::move(active), from, result);
                });
}

void SpoolReader::OnRead(std::shared_ptr<Active> active, size_t from, int result) {
  const std::string path =
      SegmentPath(spool_dir_, active->location.core, active->location.segment_id);
  if (result < 0) {
    Finish(active, ErrnoStatus(-result, "read", path));
    return;
  }
  if (result == 0) {
    Finish(active, absl::DataLossError(absl::StrFormat("%s: record at offset %u cut short", path,
                                                       active->location.offset)));
    return;
  }
  const size_t got = from + static_cast<size_t>(result);
  ETRND_CHECK(got <= active->buffer.size());
  if (got < active->buffer.size()) {
    ReadRange(std::move(active), got);  // a short read: the rest follows
    return;
  }
  if (active->header_only) {
    // The header's CRC is checked before its length is trusted.
    const DecodedRecord header = DecodeRecord(active->buffer);
    if (header.status != DecodeStatus::kNeedMore || header.consumed <= kRecordHeaderBytes) {
      Finish(active, absl::DataLossError(absl::StrFormat("%s: no valid record header at offset %u",
                                                         path, active->location.offset)));
      return;
    }
    active->header_only = false;
    size_t record_bytes = header.consumed;
    if (active->prefix_bytes > 0) record_bytes = std::min(record_bytes, active->prefix_bytes);
    if (record_bytes <= kRecordHeaderBytes) {
      active->buffer.resize(record_bytes);
      FinishBytes(std::move(active), std::string());
      return;
    }
    active->buffer.resize(record_bytes);
    ReadRange(std::move(active), kRecordHeaderBytes);
    return;
  }
  if (active->prefix_bytes > 0) {
    FinishBytes(std::move(active), std::string());
    return;
  }
  Decode(std::move(active));
}

void SpoolReader::Decode(std::shared_ptr<Active> active) {
  SpoolMessage message;
  size_t consumed = 0;
  if (DecodeMessage(active->buffer, &consumed, &message) != DecodeStatus::kOk ||
      consumed != active->buffer.size()) {
    Finish(active, absl::DataLossError(absl::StrFormat(
                       "%s: no valid message record at offset %u",
                       SegmentPath(spool_dir_, active->location.core, active->location.segment_id),
                       active->location.offset)));
    return;
  }
  Finish(active, std::move(message));
}

void SpoolReader::Settle(Active& active) {
  ETRND_CHECK(reads_in_flight_ > 0);
  --reads_in_flight_;
  Release(active.segment);
  active.segment = nullptr;
}

void SpoolReader::Finish(std::shared_ptr<Active> active, absl::StatusOr<SpoolMessage> result) {
  if (active->prefix_bytes > 0) {
    ETRND_CHECK(!result.ok());  // a prefix succeeds through FinishBytes
    FinishBytes(std::move(active), result.status());
    return;
  }
  Settle(*active);
  active->buffer = std::string();
  Done done = std::move(active->done);
  // State is settled first: `done` may ask for more reads.
  done(std::move(result));
  Pump();
}

// An ok `result` stands for the bytes read (active->buffer).
void SpoolReader::FinishBytes(std::shared_ptr<Active> active, absl::StatusOr<std::string> result) {
  ETRND_CHECK(active->prefix_bytes > 0);
  Settle(*active);
  if (result.ok()) result = std::move(active->buffer);
  active->buffer = std::string();
  BytesDone done = std::move(active->bytes_done);
  done(std::move(result));
  Pump();
}

void SpoolReader::Release(const std::shared_ptr<Segment>& segment) {
  ETRND_CHECK(segment->users > 0);
  --segment->users;
  if (segment->users == 0 && segment->evicted && segment->fd >= 0) Close(*segment);
}

void SpoolReader::Touch(Segment& segment) {
  if (segment.evicted) return;
  lru_.splice(lru_.begin(), lru_, segment.lru);
}

// Evicts least recently used idle segments until one more fits.
void SpoolReader::MakeRoom() {
  auto it = lru_.end();
  while (segments_.size() >= options_.open_segments_max && it != lru_.begin()) {
    --it;
    auto found = segments_.find(*it);
    ETRND_CHECK(found != segments_.end());
    if (found->second->users > 0) continue;
    std::shared_ptr<Segment> segment = found->second;
    it = lru_.erase(it);
    segments_.erase(found);
    segment->evicted = true;
    Close(*segment);
  }
  // Reads in flight pin at most reads_in_flight_max < open_segments_max.
  ETRND_CHECK(segments_.size() < options_.open_segments_max);
}

void SpoolReader::Close(Segment& segment) {
  ETRND_CHECK(segment.fd >= 0 && segment.users == 0);
  reactor_.CloseFile(segment.fd, [](int) {});
  segment.fd = -1;
}

void SpoolReader::EvictSegment(SegmentKey key) {
  auto it = segments_.find(key);
  if (it == segments_.end()) return;
  std::shared_ptr<Segment> segment = it->second;
  lru_.erase(segment->lru);
  segments_.erase(it);
  segment->evicted = true;
  if (segment->users == 0 && segment->fd >= 0) Close(*segment);
}

void SpoolReader::Shutdown() {
  shut_down_ = true;
  std::deque<Request> queued = std::move(queued_);
  queued_.clear();
  for (Request& request : queued) {
    FailLater(std::move(request), absl::CancelledError("spool reader shut down"));
  }
  std::vector<SegmentKey> keys(lru_.begin(), lru_.end());
  for (const SegmentKey& key : keys) EvictSegment(key);
}

namespace {

struct PrefixBatch {
  SpoolReader* reader = nullptr;
  std::vector<RecordLocation> locations;
  size_t bytes_max = 0;
  std::vector<absl::StatusOr<std::string>> results;
  size_t next = 0;         // next location to ask for
  size_t outstanding = 0;  // asked, not answered
  std::function<void(std::vector<absl::StatusOr<std::string>>)> done;
};

void AdvancePrefixBatch(const std::shared_ptr<PrefixBatch>& batch) {
  while (batch->next < batch->locations.size() && batch->outstanding < kBatchReadsOutstandingMax) {
    const size_t index = batch->next++;
    ++batch->outstanding;
    batch->reader->ReadPrefix(batch->locations[index], batch->bytes_max,
                              [batch, index](absl::StatusOr<std::string> bytes) {
                                ETRND_CHECK(batch->outstanding > 0);
                                --batch->outstanding;
                                batch->results[index] = std::move(bytes);
                                AdvancePrefixBatch(batch);
                              });
  }
  if (batch->next == batch->locations.size() && batch->outstanding == 0 && batch->done) {
    auto done = std::move(batch->done);
    batch->done = nullptr;
    done(std::move(batch->results));
  }
}

}  // namespace

void ReadPrefixes(SpoolReader& reader, std::vector<RecordLocation> locations, size_t bytes_max,
                  std::function<void(std::vector<absl::StatusOr<std::string>>)> done) {
  auto batch = std::make_shared<PrefixBatch>();
  batch->reader = &reader;
  batch->bytes_max = bytes_max;
  batch->results.assign(locations.size(), absl::UnknownError("not read"));
  batch->locations = std::move(locations);
  batch->done = std::move(done);
  // An empty batch is answered later too, like every read.
  if (batch->locations.empty()) {
    reader.reactor().Post([batch] { AdvancePrefixBatch(batch); });
    return;
  }
  AdvancePrefixBatch(batch);
}

}  // namespace etrnd::spool
