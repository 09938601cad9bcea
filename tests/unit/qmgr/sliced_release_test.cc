// A finished flush's items are freed a slice per loop turn, not at once.
#include "sliced_release.h"

#include <thread>
#include <vector>

#include "etrnd/reactor/reactor.h"
#include "gtest/gtest.h"

namespace etrnd::qmgr {
namespace {

struct Counted {
  explicit Counted(int* freed) : freed(freed) {}
  Counted(Counted&& other) noexcept : freed(other.freed) { other.freed = nullptr; }
  Counted& operator=(Counted&& other) noexcept {
    std::swap(freed, other.freed);
    return *this;
  }
  ~Counted() {
    if (freed != nullptr) ++*freed;
  }
  int* freed;
};

TEST(SlicedReleaseTest, FreesOneSlicePerTurnUntilAllAreGone) {
  constexpr size_t kItems = 10'000;
  constexpr size_t kSlice = 1'000;
  int freed = 0;
  int freed_in_first_call = -1;
  std::vector<int> freed_per_turn;
  std::thread thread([&] {
    auto reactor = reactor::Reactor::Create(0, reactor::ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    reactor::Reactor* r = reactor->get();
    int last = 0;
    r->SetTurnObserver([&](const reactor::TurnProfile&) {
      if (freed != last) freed_per_turn.push_back(freed - last);
      last = freed;
    });
    r->Post([&, r] {
      std::vector<Counted> items;
      items.reserve(kItems);
      for (size_t i = 0; i < kItems; ++i) items.emplace_back(&freed);
      ReleaseInSlices(*r, std::move(items), kSlice);
      freed_in_first_call = freed;
      r->RunAfter(absl::Milliseconds(50), [r] { r->Stop(); });
    });
    r->Run();
  });
  thread.join();
  EXPECT_EQ(freed_in_first_call, static_cast<int>(kSlice));
  EXPECT_EQ(freed, static_cast<int>(kItems));
  ASSERT_EQ(freed_per_turn.size(), kItems / kSlice);
  for (int n : freed_per_turn) EXPECT_LE(n, static_cast<int>(kSlice));
}

TEST(SlicedReleaseTest, ASmallVectorIsFreedAtOnce) {
  int freed = 0;
  std::thread thread([&] {
    auto reactor = reactor::Reactor::Create(0, reactor::ReactorOptions{});
    ASSERT_TRUE(reactor.ok());
    std::vector<Counted> items;
    for (int i = 0; i < 10; ++i) items.emplace_back(&freed);
    ReleaseInSlices(**reactor, std::move(items), 10);
    EXPECT_EQ(freed, 10);
  });
  thread.join();
  EXPECT_EQ(freed, 10);
}

}  // namespace
}  // namespace etrnd::qmgr
