#include "base/device_id.h"

#include <string>

#include <catch2/catch.hpp>

namespace cohort {
namespace {

TEST_CASE("DeviceId_SixteenToOneHundredTwentyEightPrintableBytes_AreAccepted") {
  CHECK(ValidateDeviceId(std::string(16, 'a')).ok());
  CHECK(ValidateDeviceId(std::string(128, '~')).ok());
  CHECK(ValidateDeviceId("device-0001:abcdef!").ok());
}

TEST_CASE("DeviceId_OutsideTheLengthRange_IsRefusedWithItsLength") {
  const absl::Status too_short = ValidateDeviceId(std::string(15, 'a'));
  CHECK(too_short.code() == absl::StatusCode::kInvalidArgument);
  CHECK(too_short.message() == "device_id must be 16 to 128 printable ASCII bytes, got 15");
  CHECK(ValidateDeviceId(std::string(129, 'a')).code() == absl::StatusCode::kInvalidArgument);
  CHECK(ValidateDeviceId("").code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("DeviceId_WithASpaceControlOrNonAsciiByte_IsRefusedNamingTheByte") {
  const absl::Status space = ValidateDeviceId("device 0001-abcdef");
  CHECK(space.code() == absl::StatusCode::kInvalidArgument);
  CHECK(space.message() == "device_id must be printable ASCII without spaces; byte 6 is 0x20");
  CHECK(!ValidateDeviceId("device-0001-abcdef\n").ok());
  CHECK(!ValidateDeviceId("device-0001-abcd\x7f").ok());
  CHECK(ValidateDeviceId("device-0001-abc\xc3\xa9").message() ==
        "device_id must be printable ASCII without spaces; byte 15 is 0xc3");
}

}  // namespace
}  // namespace cohort
