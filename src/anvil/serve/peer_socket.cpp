// find_connection_socket / peer_gone (see peer_socket.h). Addresses are rendered as httplib renders them
// (getnameinfo with NI_NUMERICHOST), so they compare equal to Request::local_addr / remote_addr.
#include "anvil/serve/peer_socket.h"

#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cstdlib>
#include <string>

namespace anvil::serve {
namespace {

// The numeric host and port of an IPv4/IPv6 socket address; false for other families.
bool host_and_port(const sockaddr_storage& a, socklen_t len, std::string& host, int& port) {
  if (a.ss_family == AF_INET) port = ntohs(reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
  else if (a.ss_family == AF_INET6) port = ntohs(reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);
  else return false;
  std::array<char, NI_MAXHOST> buf{};
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, buf.data(), static_cast<socklen_t>(buf.size()), nullptr,
                  0, NI_NUMERICHOST) != 0)
    return false;
  host = buf.data();
  return true;
}

bool is_connection(int fd, const httplib::Request& req) {
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  std::string host;
  int port = -1;
  // Cheap filter first: most descriptors are not sockets, or not on the server's port.
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || !host_and_port(a, len, host, port) ||
      (req.local_port >= 0 && (port != req.local_port || host != req.local_addr)))
    return false;
  len = sizeof(a);
  return getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0 && host_and_port(a, len, host, port) &&
         port == req.remote_port && host == req.remote_addr;
}

}  // namespace

int find_connection_socket(const httplib::Request& req) {
  if (req.remote_port < 0) return -1;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  const int own = dirfd(dir);
  int found = -1;
  while (const dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == own) continue;
    if (is_connection(static_cast<int>(fd), req)) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
  return found;
}

bool peer_gone(int fd) {
  pollfd p{.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0};
  if (poll(&p, 1, 0) <= 0) return false;  // nothing to read, no hang-up (or poll failed: assume alive)
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  char c = 0;  // readable: bytes of a pipelined request (alive) or the end of the stream (gone)
  return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

}  // namespace anvil::serve
