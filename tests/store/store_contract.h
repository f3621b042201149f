#ifndef COHORT_TESTS_STORE_STORE_CONTRACT_H_
#define COHORT_TESTS_STORE_STORE_CONTRACT_H_

// The Store contract of server/store/store.h as Catch2 sections, run against every
// implementation (InMemoryStore, PostgresStore) so that they cannot drift apart.
//
//   TEST_CASE("InMemoryStore_Tasks") { cohort::server::test_util::TaskContract(factory); }
//
// Each function holds several SECTIONs; each section asks `factory` for a fresh, empty store.

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/store/store.h"

namespace cohort::server::test_util {

using StoreFactory = std::function<std::unique_ptr<Store>()>;

void TaskContract(const StoreFactory& factory);
void ModelContract(const StoreFactory& factory);
void RoundContract(const StoreFactory& factory);
void CommitRoundContract(const StoreFactory& factory);
void ParticipationContract(const StoreFactory& factory);
void AuditContract(const StoreFactory& factory);
void CalibrationContract(const StoreFactory& factory);
void ConcurrencyContract(const StoreFactory& factory);
void PrivacyContract(const StoreFactory& factory);

// A DP task's budget after `rounds` charged rounds that spent `spent` of `budget`.
cohort::v1::Task WithPrivacy(cohort::v1::Task task, int64_t rounds, double spent, double budget);

// Builders shared with the PostgreSQL-only tests.
cohort::v1::Task MakeTask(const std::string& task_id, const std::string& population = "pop");
// A model whose parameters are `floats` float32 values derived from `seed` (so versions differ),
// with a 32-byte stand-in checksum.
cohort::v1::Model MakeModel(int64_t version, int floats = 16, int seed = 0);
cohort::v1::RoundSummary MakeRound(const std::string& task_id, int64_t round_number,
                                   cohort::v1::RoundPhase phase);
// A FEDADAM state of `steps` steps with `floats` values per moment derived from `seed`.
cohort::v1::ServerOptimizerState MakeOptimizerState(int64_t steps, int floats = 16, int seed = 0);
bool SameMessage(const google::protobuf::Message& a, const google::protobuf::Message& b);

inline absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace cohort::server::test_util

#endif  // COHORT_TESTS_STORE_STORE_CONTRACT_H_
