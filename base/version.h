#ifndef COHORT_BASE_VERSION_H_
#define COHORT_BASE_VERSION_H_

namespace cohort {

// The project's version ("0.1.0"), from CMake's project(VERSION): what --version and the
// cohort_build_info metric report.
const char* Version();

// The device protocol's major version: a device's `sdk_version` must carry it (the server refuses
// any other with FAILED_PRECONDITION). It changes when the protocol's meaning changes while its
// messages stay, so that a device built for the old meaning is refused instead of producing a
// sum that does not unmask (docs/protocol.md, "Versions").
// 2: the mask PRG is AES-128-CTR with power-of-two lanes (1: AES-256-CTR, ceil(m/8)-byte
// elements).
inline constexpr int kProtocolMajorVersion = 2;
// A full sdk_version of that major, for the tools and tests that speak the protocol.
inline constexpr char kProtocolVersion[] = "2.0.0";

}  // namespace cohort

#endif  // COHORT_BASE_VERSION_H_
