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
#include <cstdint>
#include <string_view>

#include "absl/time/time.h"

namespace etrnd {

// Bytes of log lines one reactor thread may have waiting for the writer.
inline constexpr size_t kLogQueueBytesPerThread = size_t{1} << 20;

// While lines keep coming, the writer collects them this long between
// passes instead of being woken by every loop turn that logged...
inline constexpr absl::Duration kLogWriterInterval = absl::Milliseconds(10);
// ...unless a thread has queued this much since it last woke the writer.
inline constexpr size_t kLogWakeBytes = kLogQueueBytesPerThread / 8;

// Starts the writer thread (etrnd's main, once).
void StartLogWriter();
// Writes what is queued, then stops the writer; later lines are written
// directly. Also run at exit.
void StopLogWriter();
// Queues a whole line for the writer when the writer runs and this thread is
// a reactor (SetLogThreadIndex); false: the caller writes it itself.
bool QueueLogLine(std::string_view line);
// A reactor calls it at the end of each loop turn that logged: wakes the
// writer if it sleeps with nothing to do, or if this thread has queued
// kLogWakeBytes since its last wake; otherwise the writer's next pass (at
// most kLogWriterInterval away) takes the lines.
void WakeLogWriter();
// Wakes sent to the writer so far (tests).
uint32_t LogWriterWakes();

}  // namespace etrnd
