// Runs CheckCredentials (crypt(3): milliseconds of CPU) on one worker thread
// with a bounded queue, so that no reactor thread ever hashes a password.
// The asking core gets its answer through the `done` callback it gives,
// which runs on the worker thread: the server glue wraps it so that it hops
// back with reactor::Reactor::Post (this module knows no reactor). Over the
// bound, Submit refuses at once and the session answers 454 4.7.0.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "etrnd/auth/password_file.h"
#include "etrnd/auth/sasl_exchange.h"

namespace etrnd::auth {

// Requests waiting for the worker. At ~10 ms each this is about a second of
// work: a client beyond it is told to retry (454) rather than wait longer.
inline constexpr size_t kVerifyQueueDepthMax = 128;

class CredentialVerifier {
 public:
  // done(true) for valid credentials; runs on the worker thread.
  using Done = std::function<void(bool valid)>;

  explicit CredentialVerifier(size_t queue_depth_max = kVerifyQueueDepthMax);
  // Joins the worker; requests still queued are dropped without an answer.
  ~CredentialVerifier();
  CredentialVerifier(const CredentialVerifier&) = delete;
  CredentialVerifier& operator=(const CredentialVerifier&) = delete;

  // Thread-safe. False (and done is not called) when the queue is full. The
  // password file snapshot travels with the request: a reload meanwhile
  // does not change the answer.
  bool Submit(std::shared_ptr<const PasswordFile> passwords, SaslCredentials credentials,
              Done done);

 private:
  struct Request {
    std::shared_ptr<const PasswordFile> passwords;
    SaslCredentials credentials;
    Done done;
  };

  void Work();

  const size_t queue_depth_max_;
  // The queue's lock is held only to push or pop a request (never while
  // hashing); the reactor threads take it once per AUTH, not per byte.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace etrnd::auth
