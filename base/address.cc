#include "base/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace cohort {

std::string HostOfAddress(std::string_view address) {
  for (std::string_view scheme : {"dns:///", "dns:", "ipv4:", "ipv6:"}) {
    if (address.starts_with(scheme)) {
      address.remove_prefix(scheme.size());
      break;
    }
  }
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    return std::string(close == std::string_view::npos ? address : address.substr(1, close - 1));
  }
  const size_t colon = address.rfind(':');
  return std::string(colon == std::string_view::npos ? address : address.substr(0, colon));
}

bool IsLoopbackAddress(std::string_view address) {
  // gRPC's ipv4:/ipv6: schemes take a comma-separated list; one non-loopback entry is enough to
  // leave the machine, so a list never counts as loopback.
  if (address.find(',') != std::string_view::npos) return false;
  if (address.starts_with("unix:")) return true;
  const std::string host = HostOfAddress(address);
  if (host == "localhost") return true;
  // Numeric forms only: a name such as "127.example.com" resolves wherever its owner wants.
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

}  // namespace cohort
