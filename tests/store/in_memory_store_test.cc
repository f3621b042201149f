#include "server/store/in_memory_store.h"

#include <memory>

#include <catch2/catch.hpp>

#include "tests/store/store_contract.h"

namespace cohort::server {
namespace {

using test_util::StoreFactory;

StoreFactory Factory() {
  return [] { return std::make_unique<InMemoryStore>(); };
}

TEST_CASE("InMemoryStore_Tasks") { test_util::TaskContract(Factory()); }
TEST_CASE("InMemoryStore_Models") { test_util::ModelContract(Factory()); }
TEST_CASE("InMemoryStore_Rounds") { test_util::RoundContract(Factory()); }
TEST_CASE("InMemoryStore_CommitRound") { test_util::CommitRoundContract(Factory()); }
TEST_CASE("InMemoryStore_Participation") { test_util::ParticipationContract(Factory()); }
TEST_CASE("InMemoryStore_Audit") { test_util::AuditContract(Factory()); }
TEST_CASE("InMemoryStore_Calibration") { test_util::CalibrationContract(Factory()); }
TEST_CASE("InMemoryStore_Concurrency") { test_util::ConcurrencyContract(Factory()); }
TEST_CASE("InMemoryStore_Privacy") { test_util::PrivacyContract(Factory()); }

}  // namespace
}  // namespace cohort::server
