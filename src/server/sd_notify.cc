#include "etrnd/server/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "etrnd/common/log.h"

namespace etrnd::server {

void SdNotify(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  size_t path_length = std::strlen(path);
  // '/' names a file, '@' an abstract socket (leading NUL, no terminator).
  if ((path[0] != '/' && path[0] != '@') || path_length >= sizeof(address.sun_path)) {
    ETRND_LOG_WARNING("NOTIFY_SOCKET=%s is not a usable unix socket name", path);
    return;
  }
  std::memcpy(address.sun_path, path, path_length);
  if (path[0] == '@') address.sun_path[0] = '\0';
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_length);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&address),
             length) < 0) {
    ETRND_LOG_WARNING("sd_notify to %s failed: %s", path, std::strerror(errno));
  }
  close(fd);
}

void SdNotifyReloading() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  uint64_t usec =
      static_cast<uint64_t>(now.tv_sec) * 1000000u + static_cast<uint64_t>(now.tv_nsec) / 1000u;
  SdNotify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

}  // namespace etrnd::server
