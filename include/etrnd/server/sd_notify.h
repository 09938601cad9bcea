// The systemd readiness protocol (sd_notify(3)) without libsystemd: one
// datagram to the unix socket named by $NOTIFY_SOCKET. Without that
// variable (not started by systemd) every call does nothing.
#pragma once

#include <string_view>

namespace etrnd::server {

// Sends STATE ("READY=1", "STOPPING=1", "RELOADING=1\nMONOTONIC_USEC=...").
// Best effort: a supervisor that went away must not stop the server.
void SdNotify(std::string_view state);

// "RELOADING=1" with the MONOTONIC_USEC stamp newer systemd asks for.
void SdNotifyReloading();

}  // namespace etrnd::server
