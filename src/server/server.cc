#include "etrnd/server/server.h"

#include <fcntl.h>
#include <mimalloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <latch>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etrnd/common/log.h"
#include "etrnd/common/log_writer.h"
#include "etrnd/config/domains_table.h"
#include "etrnd/qmgr/queue_service.h"
#include "etrnd/reactor/reactor.h"
#include "etrnd/server/core.h"
#include "etrnd/server/default_domains.h"
#include "etrnd/server/holds_store.h"
#include "etrnd/server/metrics_service.h"
#include "etrnd/server/privileges.h"
#include "etrnd/server/sd_notify.h"
#include "etrnd/server/server_context.h"
#include "etrnd/server/tls_contexts.h"
#include "etrnd/spool/spool_recovery.h"

namespace etrnd::server {
namespace {

int Fail(const std::string& reason) {
  std::fprintf(stderr, "etrnd: %s\n", reason.c_str());
  return 1;
}

absl::StatusOr<std::shared_ptr<const config::DomainsTable>> LoadTable(
    const ServerOptions& options) {
  if (options.domains_file.empty()) {
    return config::DomainsTable::Parse(EmbeddedDefaultDomains(), kDefaultDomainsFileName);
  }
  return config::DomainsTable::LoadFile(options.domains_file);
}

// SO_REUSEPORT would let a second etrnd share our port silently; a plain
// bind (SO_REUSEADDR only, so a restart after kill -9 works at once) finds a
// port that is really in use.
absl::Status TryBind(const SocketAddress& address) {
  sockaddr_storage storage;
  socklen_t length = address.ToSockaddr(&storage);
  int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (storage.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  int result = bind(fd, reinterpret_cast<sockaddr*>(&storage), length);
  int error = errno;
  close(fd);
  if (result != 0) {
    return absl::UnavailableError("cannot listen on " + address.ToString() + ": " +
                                  std::strerror(error));
  }
  return absl::OkStatus();
}

// A predecessor killed with -9 still holds its listeners until the kernel
// has torn its io_uring down (asynchronously, after the process is gone):
// a port in use is retried that long before it counts as taken.
constexpr absl::Duration kPredecessorReleaseWait = absl::Seconds(3);
constexpr absl::Duration kBindRetryInterval = absl::Milliseconds(50);

absl::Status CheckPortFree(const SocketAddress& address) {
  const absl::Time give_up = absl::Now() + kPredecessorReleaseWait;
  while (true) {
    absl::Status status = TryBind(address);
    if (status.ok() || absl::Now() >= give_up) return status;
    absl::SleepFor(kBindRetryInterval);
  }
}

// One etrnd per spool: a second one would interleave segment files.
absl::StatusOr<int> LockSpool(const std::string& spool_dir) {
  std::error_code error;
  std::filesystem::create_directories(spool_dir, error);
  if (error) {
    return absl::UnavailableError("cannot create spool directory " + spool_dir + ": " +
                                  error.message());
  }
  std::string lock_path = spool_dir + "/etrnd.lock";
  // Start-up, on the main thread before any reactor exists: plain syscalls.
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError("cannot open " + lock_path + ": " + std::strerror(errno));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return absl::UnavailableError("spool " + spool_dir + " is in use by another etrnd");
  }
  return fd;
}

bool MimallocIsDefaultAllocator() {
  void* probe = std::malloc(64);
  bool ours = mi_is_in_heap_region(probe);
  std::free(probe);
  return ours;
}

struct CoreThreads {
  std::vector<std::thread> threads;
  void JoinAll() {
    for (auto& thread : threads) {
      if (thread.joinable()) thread.join();
    }
  }
};

// --user: the user to drop to, or nothing when there is nothing to drop
// (already running as that user, e.g. systemd's User= with
// AmbientCapabilities=CAP_NET_BIND_SERVICE).
absl::StatusOr<std::optional<RunAsUser>> PrivilegeDropPlan(const std::string& name) {
  if (name.empty()) return std::nullopt;
  absl::StatusOr<RunAsUser> user = LookupRunAsUser(name);
  if (!user.ok()) return user.status();
  if (geteuid() != 0) {
    if (getuid() == user->uid && geteuid() == user->uid) return std::nullopt;
    return absl::PermissionDeniedError("--user=" + name + " needs etrnd to be started as root");
  }
  return *user;
}

// Called once every core has bound its listeners and before any serves: the
// spool files opened while root go to the user, then the whole process
// (every thread: glibc broadcasts set*id) becomes the user.
absl::Status DropToUser(const RunAsUser& user, const std::string& spool_dir) {
  absl::Status status = ChownTree(spool_dir, user);
  if (status.ok()) status = DropPrivileges(user);
  if (!status.ok()) return status;
  ETRND_LOG_INFO("privileges dropped: running as user %s (uid %d, gid %d)", user.name,
                 static_cast<int>(user.uid), static_cast<int>(user.gid));
  return absl::OkStatus();
}

}  // namespace

namespace {

// The --auth_file goes with the domains table: read at start-up and on each
// reload; a failed reload keeps the previous users.
absl::StatusOr<std::shared_ptr<const auth::PasswordFile>> LoadPasswords(
    const ServerOptions& options) {
  if (options.auth_file.empty()) return std::shared_ptr<const auth::PasswordFile>();
  return auth::PasswordFile::LoadFile(options.auth_file);
}

void ReloadPasswords(ServerContext& context, std::string_view why) {
  if (context.options.auth_file.empty()) return;
  auto passwords = LoadPasswords(context.options);
  if (!passwords.ok()) {
    ETRND_LOG_ERROR("%s: auth file reload failed, previous users stay in force: %s", why,
                    std::string(passwords.status().message()));
    return;
  }
  ETRND_LOG_INFO("%s: auth file reloaded: %d users", why, (*passwords)->size());
  for (auto& core : context.cores) {
    Core* target = core.get();
    std::shared_ptr<const auth::PasswordFile> snapshot = *passwords;
    target->reactor().Post([target, snapshot] { target->SetPasswords(snapshot); });
  }
}

}  // namespace

absl::StatusOr<size_t> ReloadDomainsTable(ServerContext& context, std::string_view why) {
  // SIGHUP and etrnctl reload re-read every file the server was given.
  ReloadPasswords(context, why);
  ReloadTlsContexts(context, why);
  absl::StatusOr<std::shared_ptr<const config::DomainsTable>> table = LoadTable(context.options);
  if (!table.ok()) {
    ETRND_LOG_ERROR("%s: reload failed, previous table stays in force: %s", why,
                    std::string(table.status().message()));
    return table.status();
  }
  ETRND_LOG_INFO("%s: domains table reloaded: %d entries", why, (*table)->size());
  for (auto& core : context.cores) {
    Core* target = core.get();
    std::shared_ptr<const config::DomainsTable> snapshot = *table;
    target->reactor().Post([target, snapshot] { target->SetTable(snapshot); });
  }
  return (*table)->size();
}

ServerContext::ServerContext(ServerOptions server_options)
    : options(std::move(server_options)),
      limiter(options.max_connections, options.max_connections_per_ip) {}

int RunServer(ServerOptions options) {
  // Signals go to the main thread only (sigwait below); reactor threads
  // inherit the blocked mask. SIGPIPE is ignored: sends report EPIPE.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::optional<RunAsUser>> drop_to = PrivilegeDropPlan(options.user);
  if (!drop_to.ok()) return Fail(std::string(drop_to.status().message()));
  absl::StatusOr<std::shared_ptr<const config::DomainsTable>> table = LoadTable(options);
  if (!table.ok()) return Fail(std::string(table.status().message()));
  auto passwords = LoadPasswords(options);
  if (!passwords.ok()) return Fail("--auth_file: " + std::string(passwords.status().message()));
  absl::StatusOr<std::shared_ptr<const TlsContexts>> tls = LoadTlsContexts(options.tls);
  if (!tls.ok()) return Fail(std::string(tls.status().message()));
  if ((*tls)->server != nullptr) ETRND_LOG_INFO("STARTTLS with %s", (*tls)->server->description());
  for (const auto* addresses : {&options.listen, &options.proxy_protocol_listen}) {
    for (const SocketAddress& address : *addresses) {
      absl::Status status = CheckPortFree(address);
      if (!status.ok()) return Fail(std::string(status.message()));
    }
  }
  for (const auto* single : {&options.metrics_listen, &options.odmr_listen}) {
    if (!single->has_value()) continue;
    absl::Status status = CheckPortFree(**single);
    if (!status.ok()) return Fail(std::string(status.message()));
  }
  absl::StatusOr<int> lock = LockSpool(options.spool_dir);
  if (!lock.ok()) return Fail(std::string(lock.status().message()));

  ETRND_LOG_INFO(
      "etrnd starting: mimalloc %d (%s), hostname %s, domains table %s (%d entries)", mi_version(),
      MimallocIsDefaultAllocator() ? "default allocator" : "NOT in use", options.hostname,
      options.domains_file.empty() ? std::string(kDefaultDomainsFileName) : options.domains_file,
      (*table)->size());

  // Recover before greeting anyone: every accepted message is queued again.
  absl::StatusOr<spool::RecoveryResult> recovered = spool::RecoverSpool(options.spool_dir);
  if (!recovered.ok()) return Fail("spool recovery: " + std::string(recovered.status().message()));

  absl::StatusOr<std::vector<std::string>> holds = HoldsStore::Load(options.spool_dir);
  if (!holds.ok()) return Fail(std::string(holds.status().message()));

  int threads = options.threads == 0 ? reactor::OnlineCpuCount() : options.threads;
  ServerContext context(std::move(options));
  context.holds = std::move(*holds);
  if (!context.holds.empty()) {
    ETRND_LOG_INFO("%d domains held by the operator (etrnctl release to end)",
                   context.holds.size());
  }
  for (int i = 0; i < threads; ++i) {
    context.cores.push_back(std::make_unique<Core>(i, context, *table));
    context.cores.back()->SetPasswords(*passwords);
    context.cores.back()->SetTls(*tls);
  }
  if (*passwords != nullptr) {
    context.verifier = std::make_unique<auth::CredentialVerifier>();
    ETRND_LOG_INFO("SMTP AUTH: %d users from %s", (*passwords)->size(), context.options.auth_file);
  }
  context.mesh = std::make_unique<reactor::ReactorMesh>(static_cast<size_t>(threads));

  // Each core builds its ring on its own thread (IORING_SETUP_SINGLE_ISSUER),
  // loads its shard of the recovered queue, binds its listeners, then runs.
  // No core may accept before every core has its ring: a session on one
  // core posts work (index updates, ETRN) to the others from the start.
  // No core may serve before privileges are dropped (--user): the cores
  // wait on `serving` until the main thread has dropped them.
  CoreThreads core_threads;
  std::vector<std::promise<absl::Status>> ready(threads);
  std::latch all_initialized(threads);
  std::latch serving(1);
  for (int i = 0; i < threads; ++i) {
    core_threads.threads.emplace_back([&context, &ready, &recovered, &all_initialized, &serving,
                                       i] {
      // Named for top -H, perf and /proc: "etrnd-core-3".
      pthread_setname_np(pthread_self(), absl::StrCat("etrnd-core-", i).c_str());
      Core& core = context.core(i);
      absl::Status status = core.Init(recovered->next_segment_id, recovered->next_completion_id);
      if (status.ok()) core.queue().LoadRecovered(*recovered);
      all_initialized.arrive_and_wait();
      if (status.ok()) status = core.StartListening();
      ready[i].set_value(status);
      if (!status.ok()) return;
      serving.wait();
      core.Run();
    });
  }
  absl::Status start_status = absl::OkStatus();
  for (auto& promise : ready) {
    absl::Status status = promise.get_future().get();
    if (!status.ok() && start_status.ok()) start_status = status;
  }
  if (!start_status.ok()) {
    Fail(std::string(start_status.message()));
    std::_Exit(1);  // reactor threads may be blocked in their rings
  }
  // Every core has loaded its shard. Give the recovery result back before
  // any core turns: unmapping it (GiBs at 1e7 messages) holds the address
  // space lock, and a core's page fault would wait for it mid-turn.
  recovered->Release();
  if (drop_to->has_value()) {
    absl::Status status = DropToUser(**drop_to, context.options.spool_dir);
    if (!status.ok()) {
      // Never serve as root by accident: a failed drop ends the process.
      Fail(std::string(status.message()));
      std::_Exit(1);
    }
  } else if (geteuid() == 0) {
    ETRND_LOG_WARNING("running as root; --user=NAME drops privileges after binding");
  }
  serving.count_down();
  for (const SocketAddress& address : context.options.listen) {
    ETRND_LOG_INFO("listening on %s with %d reactor threads", address.ToString(), threads);
  }
  for (const SocketAddress& address : context.options.proxy_protocol_listen) {
    ETRND_LOG_INFO("listening on %s (PROXY protocol) with %d reactor threads", address.ToString(),
                   threads);
  }
  if (context.options.odmr_listen.has_value()) {
    ETRND_LOG_INFO("ODMR on %s with %d reactor threads", context.options.odmr_listen->ToString(),
                   threads);
  }
  if (context.options.metrics_listen.has_value()) {
    StartSpoolBytesSampler(context);
    ETRND_LOG_INFO("metrics on http://%s/metrics", context.options.metrics_listen->ToString());
  }
  SdNotify("READY=1");

  while (true) {
    int signal_number = 0;
    if (sigwait(&signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      SdNotifyReloading();
      ReloadDomainsTable(context, "SIGHUP").IgnoreError();
      SdNotify("READY=1");
      continue;
    }
    ETRND_LOG_INFO("%s: shutting down", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }

  SdNotify("STOPPING=1");
  context.shutting_down = true;
  for (auto& core : context.cores) {
    Core* target = core.get();
    target->reactor().Post([target] { target->BeginShutdown(); });
  }
  // SPEC: exit within 10 s. Sessions got their 421; a peer that does not read
  // it must not hold the exit up, so connections are cut after a grace period.
  std::thread watchdog([&context] {
    absl::SleepFor(context.options.shutdown_grace);
    for (auto& core : context.cores) {
      Core* target = core.get();
      target->reactor().Post(
          [target] { target->reactor().ForEachConnection([](auto& c) { c.Abort(); }); });
    }
  });
  watchdog.detach();
  core_threads.JoinAll();
  // Every reactor has returned: the main thread may block now.
  unlink(context.options.control_socket.c_str());
  StopLogWriter();  // the reactors' last lines (exit summaries) come first
  ETRND_LOG_INFO("etrnd stopped cleanly");
  std::fflush(stderr);
  std::_Exit(0);  // the detached watchdog may still be sleeping
}

}  // namespace etrnd::server
