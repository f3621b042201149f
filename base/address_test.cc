#include "base/address.h"

#include <catch2/catch.hpp>

namespace cohort {
namespace {

TEST_CASE("HostOfAddress_StripsSchemePortAndBrackets") {
  CHECK(HostOfAddress("example.com:443") == "example.com");
  CHECK(HostOfAddress("dns:///example.com:443") == "example.com");
  CHECK(HostOfAddress("ipv4:10.0.0.1:8443") == "10.0.0.1");
  CHECK(HostOfAddress("[2001:db8::1]:8443") == "2001:db8::1");
  CHECK(HostOfAddress("ipv6:[::1]:1") == "::1");
  CHECK(HostOfAddress("example.com") == "example.com");
}

TEST_CASE("IsLoopbackAddress_KnowsTheLoopbackForms") {
  CHECK(IsLoopbackAddress("127.0.0.1:1"));
  CHECK(IsLoopbackAddress("127.1.2.3:1"));
  CHECK(IsLoopbackAddress("localhost:1"));
  CHECK(IsLoopbackAddress("[::1]:1"));
  CHECK(IsLoopbackAddress("[0:0:0:0:0:0:0:1]:1"));
  CHECK(IsLoopbackAddress("dns:///localhost:1"));
  CHECK(IsLoopbackAddress("unix:/run/cohort.sock"));
  CHECK_FALSE(IsLoopbackAddress("0.0.0.0:1"));
  CHECK_FALSE(IsLoopbackAddress("[::]:1"));
  CHECK_FALSE(IsLoopbackAddress("10.0.0.1:1"));
  CHECK_FALSE(IsLoopbackAddress("127.example.com:1"));  // a name anyone can point anywhere
  CHECK_FALSE(IsLoopbackAddress("localhost.example.com:1"));
  CHECK_FALSE(IsLoopbackAddress("ipv6:[::1]:1,[2001:db8::1]:443"));  // a list that leaves
  CHECK_FALSE(IsLoopbackAddress("ipv4:127.0.0.1:1,127.0.0.2:1"));
}

}  // namespace
}  // namespace cohort
