#include "etrnd/auth/credential_verifier.h"

#include <pthread.h>

#include <utility>

#include "etrnd/auth/credential_check.h"
#include "etrnd/common/check.h"

namespace etrnd::auth {

CredentialVerifier::CredentialVerifier(size_t queue_depth_max) : queue_depth_max_(queue_depth_max) {
  ETRND_CHECK(queue_depth_max_ > 0);
  worker_ = std::thread([this] { Work(); });
  pthread_setname_np(worker_.native_handle(), "etrnd-auth");
}

CredentialVerifier::~CredentialVerifier() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  worker_.join();
}

bool CredentialVerifier::Submit(std::shared_ptr<const PasswordFile> passwords,
                                SaslCredentials credentials, Done done) {
  ETRND_CHECK(passwords != nullptr && done != nullptr);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || queue_.size() >= queue_depth_max_) return false;
    queue_.push_back(Request{std::move(passwords), std::move(credentials), std::move(done)});
    ETRND_CHECK(queue_.size() <= queue_depth_max_);
  }
  wake_.notify_one();
  return true;
}

void CredentialVerifier::Work() {
  auto scratch = std::make_unique<CryptScratch>();
  while (true) {
    Request request;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      request = std::move(queue_.front());
      queue_.pop_front();
    }
    const bool valid = CheckCredentials(*request.passwords, request.credentials, *scratch);
    request.done(valid);
  }
}

}  // namespace etrnd::auth
