#include "server/core/session_token.h"

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"

namespace cohort::server {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

SessionClaims Claims() {
  return {.round_id = "task-1/r3-abc",
          .participant_index = 7,
          .device_pseudonym = "ab12",
          .expires_at = kNow + absl::Hours(1)};
}

TEST_CASE("Verify_AcceptsMintedToken") {
  auto signer = SessionTokenSigner::Create(std::string(32, 'k'));
  REQUIRE(signer.ok());
  const std::string token = (*signer)->Mint(Claims());
  auto claims = (*signer)->Verify(token, kNow);
  REQUIRE(claims.ok());
  CHECK(claims->round_id == "task-1/r3-abc");
  CHECK(claims->participant_index == 7);
  CHECK(claims->device_pseudonym == "ab12");
  CHECK(claims->expires_at == kNow + absl::Hours(1));
}

TEST_CASE("Verify_RejectsTokenOfAnotherKey") {
  auto a = SessionTokenSigner::Create(std::string(32, 'a'));
  auto b = SessionTokenSigner::Create(std::string(32, 'b'));
  const std::string token = (*a)->Mint(Claims());
  CHECK((*b)->Verify(token, kNow).status().code() == absl::StatusCode::kUnauthenticated);
}

TEST_CASE("Verify_RejectsAlteredClaims") {
  auto signer = SessionTokenSigner::Create(std::string(32, 'k'));
  const std::string token = (*signer)->Mint(Claims());
  SessionClaims other = Claims();
  other.participant_index = 8;
  const std::string forged_payload = (*signer)->Mint(other).substr(0, token.find('.'));
  const std::string forged = forged_payload + token.substr(token.find('.'));
  CHECK((*signer)->Verify(forged, kNow).status().code() == absl::StatusCode::kUnauthenticated);
}

TEST_CASE("Verify_RejectsExpiredMalformedAndEmpty") {
  auto signer = SessionTokenSigner::Create(std::string(32, 'k'));
  const std::string token = (*signer)->Mint(Claims());
  CHECK((*signer)->Verify(token, kNow + absl::Hours(2)).status().code() ==
        absl::StatusCode::kUnauthenticated);
  CHECK((*signer)->Verify("", kNow).status().code() == absl::StatusCode::kUnauthenticated);
  CHECK((*signer)->Verify("not a token", kNow).status().code() ==
        absl::StatusCode::kUnauthenticated);
  CHECK((*signer)->Verify(token + "x", kNow).status().code() == absl::StatusCode::kUnauthenticated);
}

TEST_CASE("Create_RejectsShortKey") {
  CHECK(SessionTokenSigner::Create("short").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("DevicePseudonym_IsStablePerSaltAndHidesId") {
  const std::string a = DevicePseudonym("salt", "device-0000000000001");
  CHECK(a == DevicePseudonym("salt", "device-0000000000001"));
  CHECK(a != DevicePseudonym("other", "device-0000000000001"));
  CHECK(a.find("device") == std::string::npos);
  CHECK(a.size() == 64);
}

TEST_CASE("ConstantTimeEquals_ComparesBytes") {
  CHECK(ConstantTimeEquals("abc", "abc"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abd"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abcd"));
  CHECK(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace cohort::server
