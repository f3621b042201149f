#ifndef COHORT_BASE_ADDRESS_H_
#define COHORT_BASE_ADDRESS_H_

#include <string>
#include <string_view>

namespace cohort {

// The host of a gRPC target or listen address: "host:port", "[v6]:port", with an optional
// "dns:///", "dns:", "ipv4:" or "ipv6:" scheme.
std::string HostOfAddress(std::string_view address);

// True when traffic to or on `address` cannot leave the machine: 127.0.0.0/8, ::1, localhost, or
// a unix socket. Plaintext (a bearer token, a model update) is allowed there only.
bool IsLoopbackAddress(std::string_view address);

}  // namespace cohort

#endif  // COHORT_BASE_ADDRESS_H_
