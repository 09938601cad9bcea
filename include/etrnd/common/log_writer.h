// Log lines from reactor threads are written by one writer thread, not by
// the reactor itself: stderr may be a file under heavy writeback (a write can
// be throttled for milliseconds) or a full pipe to journald, and nothing may
// block a reactor thread. Each reactor thread gets a bounded byte queue
// (single producer, the writer the only consumer; no lock per line); a line
// that does not fit is dropped and counted, and the writer says how many.
// Threads that are not reactors, and every thread before Start() or after
// Stop(), write directly.
#pragma once

#include <cstddef>
#include <string_view>

namespace etrnd {

// Bytes of log lines one reactor thread may have waiting for the writer.
inline constexpr size_t kLogQueueBytesPerThread = size_t{1} << 20;

// Starts the writer thread (etrnd's main, once).
void StartLogWriter();
// Writes what is queued, then stops the writer; later lines are written
// directly. Also run at exit.
void StopLogWriter();
// Queues a whole line for the writer when the writer runs and this thread is
// a reactor (SetLogThreadIndex); false: the caller writes it itself.
bool QueueLogLine(std::string_view line);
// Wakes the writer if this thread queued lines since its last call: a
// reactor calls it at the end of each loop turn, so a busy turn costs one
// wake (a futex call), not one per line.
void WakeLogWriter();

}  // namespace etrnd
