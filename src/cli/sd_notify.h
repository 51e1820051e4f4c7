// sd_notify: the systemd notification protocol (a datagram of KEY=VALUE
// lines to the socket named by $NOTIFY_SOCKET), so dynamicfs@.service can be
// Type=notify without linking libsystemd. Does nothing outside systemd.
#pragma once

#include <string>

namespace dynamicfs {

// Sends STATE (e.g. "READY=1\nSTATUS=mounted"); false if it could not.
bool sd_notify_state(const std::string& state);

}  // namespace dynamicfs
