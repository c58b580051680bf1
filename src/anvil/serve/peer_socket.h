// Telling whether the client of an httplib handler is still connected. cpp-httplib 0.11 (Debian 12) gives
// a handler neither its socket nor a liveness check (DataSink::is_writable is select(write) only; later
// versions add is_socket_alive), so a handler that waits for the model would go on generating for a
// client that left. find_connection_socket() finds the connection's descriptor among the process's open
// sockets by its four-tuple (local and remote address and port, which the Request carries and which name
// one TCP connection; the descriptor stays open while its handler runs). peer_gone() is the check newer
// httplib does: a hang-up or error on the socket, or readable with a zero-byte peek (orderly close).
// Linux only (/proc/self/fd, POLLRDHUP). Not part of the serve layer's API.
#pragma once

#include <httplib.h>

namespace anvil::serve {

// The descriptor of the connection `req` came on, or -1 when none matches (then nothing can be watched).
int find_connection_socket(const httplib::Request& req);

// True when the peer has closed or reset the connection (a half-close counts: it will read no answer
// it has not asked for). Never blocks.
bool peer_gone(int fd);

}  // namespace anvil::serve
