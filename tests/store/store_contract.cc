#include "tests/store/store_contract.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"

namespace cohort::server::test_util {
namespace {

using cohort::v1::Model;
using cohort::v1::RoundSummary;
using cohort::v1::Task;

#define REQUIRE_OK(expr)                         \
  do {                                           \
    const absl::Status status_ = StatusOf(expr); \
    INFO(#expr << " -> " << status_.ToString()); \
    REQUIRE(status_.ok());                       \
  } while (false)

#define REQUIRE_CODE(expr, expected_code)        \
  do {                                           \
    const absl::Status status_ = StatusOf(expr); \
    INFO(#expr << " -> " << status_.ToString()); \
    REQUIRE(status_.code() == (expected_code));  \
  } while (false)

const absl::Time kT0 = absl::FromUnixMicros(1'700'000'000'000'000);

std::unique_ptr<Store> NewStoreWithTask(const StoreFactory& factory, const std::string& task_id) {
  std::unique_ptr<Store> store = factory();
  REQUIRE(store != nullptr);
  REQUIRE_OK(store->CreateTask(MakeTask(task_id), MakeModel(0)));
  return store;
}

ParticipationRecord Record(const std::string& task_id, const std::string& device,
                           absl::Time selected_at, int64_t round_number = 1) {
  ParticipationRecord record;
  record.task_id = task_id;
  record.round_number = round_number;
  record.device_pseudonym = device;
  record.participant_index = 3;
  record.last_completed_phase = cohort::v1::ROUND_PHASE_MASKED_INPUT;
  record.contributed = true;
  record.selected_at = selected_at;
  return record;
}

AuditEntry Audit(absl::Time time, const std::string& action) {
  // Built whole: assigning a literal to a member trips GCC 12's -Wrestrict false positive at -O3.
  return AuditEntry{time, "admin", action, "t", absl::StrCat("detail of ", action)};
}

std::vector<int64_t> RoundNumbers(const std::vector<RoundSummary>& rounds) {
  std::vector<int64_t> numbers;
  for (const RoundSummary& round : rounds) numbers.push_back(round.round_number());
  return numbers;
}

// A task as the core would store it after committing `version`.
Task Committed(Task task, int64_t version) {
  task.set_latest_model_version(version);
  task.set_rounds_committed(version);
  return task;
}

}  // namespace

Task MakeTask(const std::string& task_id, const std::string& population) {
  Task task;
  task.set_task_id(task_id);
  task.mutable_config()->set_population(population);
  task.mutable_config()->set_display_name(absl::StrCat("Task ", task_id));
  task.mutable_config()->set_target_cohort_size(10);
  auto* tensor = task.mutable_config()->mutable_layout()->add_tensors();
  tensor->set_name("dense/kernel");
  tensor->add_shape(4);
  tensor->add_shape(4);
  tensor->set_dtype(cohort::v1::DTYPE_FLOAT32);
  task.set_state(cohort::v1::TASK_STATE_IDLE);
  task.set_rounds_remaining(3);
  task.mutable_created_at()->set_seconds(1'700'000'000);
  task.mutable_created_at()->set_nanos(123'456'789);
  return task;
}

cohort::v1::ServerOptimizerState MakeOptimizerState(int64_t steps, int floats, int seed) {
  cohort::v1::ServerOptimizerState state;
  state.set_kind(cohort::v1::ServerOptimizerConfig::KIND_FEDADAM);
  state.set_steps(steps);
  for (int i = 0; i < floats; ++i) {
    state.add_first_moment(0.125 * (i - 7) + steps + 0.5 * seed);
    state.add_second_moment(1e-6 * (1 + i + seed) + 0.01 * static_cast<double>(steps));
  }
  return state;
}

Model MakeModel(int64_t version, int floats, int seed) {
  Model model;
  model.set_version(version);
  auto* tensor = model.mutable_layout()->add_tensors();
  tensor->set_name("dense/kernel");
  tensor->add_shape(floats);
  tensor->set_dtype(cohort::v1::DTYPE_FLOAT32);
  std::string parameters(static_cast<size_t>(floats) * 4, '\0');
  for (size_t i = 0; i < parameters.size(); ++i) {
    // Includes zero bytes on purpose: bytea must not stop at them.
    parameters[i] = static_cast<char>(
        (i * 7 + static_cast<size_t>(version) * 13 + static_cast<size_t>(seed) * 31) % 251 *
        (i % 5 != 0));
  }
  model.set_parameters(parameters);
  model.set_sha256(std::string(32, static_cast<char>('a' + (version + seed) % 26)));
  return model;
}

RoundSummary MakeRound(const std::string& task_id, int64_t round_number,
                       cohort::v1::RoundPhase phase) {
  RoundSummary round;
  round.set_task_id(task_id);
  round.set_round_number(round_number);
  round.set_round_id(absl::StrCat(task_id, "-r", round_number));
  round.set_phase(phase);
  round.set_base_model_version(round_number - 1);
  round.set_selected(13);
  round.set_contributors(10);
  round.set_dropouts(3);
  round.set_bytes_uploaded(1 << 20);
  round.mutable_started_at()->set_seconds(1'700'000'000 + round_number);
  if (phase == cohort::v1::ROUND_PHASE_COMMITTED) round.set_new_model_version(round_number);
  auto* metrics = round.add_phases();
  metrics->set_phase(cohort::v1::ROUND_PHASE_ADVERTISE_KEYS);
  metrics->set_entered(13);
  metrics->set_completed(12);
  return round;
}

bool SameMessage(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

void TaskContract(const StoreFactory& factory) {
  SECTION("CreateTask_ThenGetTaskReturnsIt") {
    auto store = factory();
    const Task task = MakeTask("t1");
    REQUIRE_OK(store->CreateTask(task, MakeModel(0)));
    auto got = store->GetTask("t1");
    REQUIRE_OK(got);
    CHECK(SameMessage(*got, task));
  }
  SECTION("CreateTask_DuplicateIdIsAlreadyExistsAndKeepsTheFirst") {
    auto store = NewStoreWithTask(factory, "t1");
    Task other = MakeTask("t1", "other-population");
    REQUIRE_CODE(store->CreateTask(other, MakeModel(0, 16, 5)), absl::StatusCode::kAlreadyExists);
    auto got = store->GetTask("t1");
    REQUIRE_OK(got);
    CHECK(got->config().population() == "pop");
    auto model = store->GetModel("t1", 0);
    REQUIRE_OK(model);
    CHECK(SameMessage(*model, MakeModel(0)));
  }
  SECTION("GetTask_UnknownIsNotFound") {
    auto store = factory();
    REQUIRE_CODE(store->GetTask("nope"), absl::StatusCode::kNotFound);
  }
  SECTION("UpdateTask_ReplacesTheTask") {
    auto store = NewStoreWithTask(factory, "t1");
    Task task = MakeTask("t1");
    task.set_state(cohort::v1::TASK_STATE_RUNNING);
    task.set_rounds_failed(2);
    *task.mutable_current_round() = MakeRound("t1", 3, cohort::v1::ROUND_PHASE_SHARE_KEYS);
    REQUIRE_OK(store->UpdateTask(task));
    auto got = store->GetTask("t1");
    REQUIRE_OK(got);
    CHECK(SameMessage(*got, task));
  }
  SECTION("UpdateTask_UnknownIsNotFound") {
    auto store = factory();
    REQUIRE_CODE(store->UpdateTask(MakeTask("nope")), absl::StatusCode::kNotFound);
    REQUIRE_CODE(store->GetTask("nope"), absl::StatusCode::kNotFound);
  }
  SECTION("ListTasks_OrderedByTaskId") {
    auto store = factory();
    auto empty = store->ListTasks();
    REQUIRE_OK(empty);
    CHECK(empty->empty());
    for (const char* id : {"b", "c", "a"})
      REQUIRE_OK(store->CreateTask(MakeTask(id), MakeModel(0)));
    auto tasks = store->ListTasks();
    REQUIRE_OK(tasks);
    REQUIRE(tasks->size() == 3);
    CHECK((*tasks)[0].task_id() == "a");
    CHECK((*tasks)[1].task_id() == "b");
    CHECK((*tasks)[2].task_id() == "c");
    CHECK(SameMessage((*tasks)[0], MakeTask("a")));
  }
}

void ModelContract(const StoreFactory& factory) {
  SECTION("CreateTask_StoresTheInitialModel") {
    auto store = NewStoreWithTask(factory, "t1");
    auto model = store->GetModel("t1", 0);
    REQUIRE_OK(model);
    CHECK(SameMessage(*model, MakeModel(0)));
    auto latest = store->GetLatestModel("t1");
    REQUIRE_OK(latest);
    CHECK(SameMessage(*latest, MakeModel(0)));
  }
  SECTION("GetModel_UnknownTaskOrVersionIsNotFound") {
    auto store = NewStoreWithTask(factory, "t1");
    REQUIRE_CODE(store->GetModel("t1", 1), absl::StatusCode::kNotFound);
    REQUIRE_CODE(store->GetModel("nope", 0), absl::StatusCode::kNotFound);
    REQUIRE_CODE(store->GetLatestModel("nope"), absl::StatusCode::kNotFound);
  }
  SECTION("GetLatestModel_IsTheHighestCommittedVersion") {
    auto store = NewStoreWithTask(factory, "t1");
    for (int64_t v = 1; v <= 3; ++v) {
      REQUIRE_OK(store->CommitRound(MakeRound("t1", v, cohort::v1::ROUND_PHASE_COMMITTED),
                                    MakeModel(v), Committed(MakeTask("t1"), v),
                                    MakeOptimizerState(v)));
    }
    auto latest = store->GetLatestModel("t1");
    REQUIRE_OK(latest);
    CHECK(SameMessage(*latest, MakeModel(3)));
    auto middle = store->GetModel("t1", 2);
    REQUIRE_OK(middle);
    CHECK(SameMessage(*middle, MakeModel(2)));
  }
  SECTION("GetModel_LargeParametersRoundTripExactly") {
    auto store = factory();
    const Model big = MakeModel(0, 1 << 18);  // 1 MiB
    REQUIRE_OK(store->CreateTask(MakeTask("t1"), big));
    auto got = store->GetModel("t1", 0);
    REQUIRE_OK(got);
    CHECK(got->parameters() == big.parameters());
    CHECK(got->sha256() == big.sha256());
  }
}

void RoundContract(const StoreFactory& factory) {
  SECTION("PutRound_InsertsThenReplaces") {
    auto store = NewStoreWithTask(factory, "t1");
    REQUIRE_OK(store->PutRound(MakeRound("t1", 1, cohort::v1::ROUND_PHASE_FORMING)));
    RoundSummary later = MakeRound("t1", 1, cohort::v1::ROUND_PHASE_MASKED_INPUT);
    later.set_contributors(7);
    later.mutable_ended_at()->set_seconds(1'700'000'100);
    REQUIRE_OK(store->PutRound(later));
    auto rounds = store->ListRounds("t1", 0, 10);
    REQUIRE_OK(rounds);
    REQUIRE(rounds->size() == 1);
    CHECK(SameMessage(rounds->front(), later));
  }
  SECTION("PutRound_UnknownTaskIsNotFound") {
    auto store = factory();
    REQUIRE_CODE(store->PutRound(MakeRound("nope", 1, cohort::v1::ROUND_PHASE_FORMING)),
                 absl::StatusCode::kNotFound);
  }
  SECTION("ListRounds_NewestFirstWithBeforeRoundAndLimit") {
    auto store = NewStoreWithTask(factory, "t1");
    REQUIRE_OK(store->CreateTask(MakeTask("t2"), MakeModel(0)));
    for (int64_t n : {3, 1, 5, 2, 4}) {
      REQUIRE_OK(store->PutRound(MakeRound("t1", n, cohort::v1::ROUND_PHASE_FAILED)));
    }
    REQUIRE_OK(store->PutRound(MakeRound("t2", 9, cohort::v1::ROUND_PHASE_FORMING)));
    auto numbers = [&](int64_t before, int32_t limit) {
      auto rounds = store->ListRounds("t1", before, limit);
      REQUIRE_OK(rounds);
      return RoundNumbers(*rounds);
    };
    CHECK(numbers(0, 10) == std::vector<int64_t>{5, 4, 3, 2, 1});
    CHECK(numbers(0, 2) == std::vector<int64_t>{5, 4});
    CHECK(numbers(4, 10) == std::vector<int64_t>{3, 2, 1});
    CHECK(numbers(4, 2) == std::vector<int64_t>{3, 2});
    CHECK(numbers(1, 10).empty());
    CHECK(numbers(0, 0).empty());
    CHECK(numbers(100, 1) == std::vector<int64_t>{5});
  }
  SECTION("ListRounds_KnownTaskWithoutRoundsIsEmpty") {
    auto store = NewStoreWithTask(factory, "t1");
    auto rounds = store->ListRounds("t1", 0, 10);
    REQUIRE_OK(rounds);
    CHECK(rounds->empty());
  }
  SECTION("ListRounds_UnknownTaskIsNotFoundAndNegativeArgumentsInvalid") {
    auto store = NewStoreWithTask(factory, "t1");
    REQUIRE_CODE(store->ListRounds("nope", 0, 10), absl::StatusCode::kNotFound);
    REQUIRE_CODE(store->ListRounds("t1", -1, 10), absl::StatusCode::kInvalidArgument);
    REQUIRE_CODE(store->ListRounds("t1", 0, -1), absl::StatusCode::kInvalidArgument);
  }
  SECTION("FailUnfinishedRounds_FailsOnlyRoundsInFlightAndCountsThemInTheirTasks") {
    auto store = NewStoreWithTask(factory, "t1");
    REQUIRE_OK(store->CreateTask(MakeTask("t2"), MakeModel(0)));
    REQUIRE_OK(store->CommitRound(MakeRound("t1", 1, cohort::v1::ROUND_PHASE_COMMITTED),
                                  MakeModel(1), Committed(MakeTask("t1"), 1),
                                  MakeOptimizerState(1)));
    RoundSummary failed = MakeRound("t1", 2, cohort::v1::ROUND_PHASE_FAILED);
    failed.set_failure_reason("too few devices");
    REQUIRE_OK(store->PutRound(failed));
    const RoundSummary in_flight = MakeRound("t1", 3, cohort::v1::ROUND_PHASE_MASKED_INPUT);
    REQUIRE_OK(store->PutRound(in_flight));
    REQUIRE_OK(store->PutRound(MakeRound("t2", 1, cohort::v1::ROUND_PHASE_FORMING)));
    // t1: three rounds asked for, the one in flight among them; t2 runs without end.
    Task t1 = Committed(MakeTask("t1"), 1);
    t1.set_rounds_failed(1);
    t1.set_rounds_remaining(3);
    REQUIRE_OK(store->UpdateTask(t1));
    Task t2 = MakeTask("t2");
    t2.set_continuous(true);
    t2.set_rounds_remaining(0);
    REQUIRE_OK(store->UpdateTask(t2));

    auto count = store->FailUnfinishedRounds("server restart");
    REQUIRE_OK(count);
    CHECK(*count == 2);
    auto rounds = store->ListRounds("t1", 0, 10);
    REQUIRE_OK(rounds);
    REQUIRE(RoundNumbers(*rounds) == std::vector<int64_t>{3, 2, 1});
    RoundSummary expected = in_flight;
    expected.set_phase(cohort::v1::ROUND_PHASE_FAILED);
    expected.set_failure_reason("server restart");
    CHECK(SameMessage((*rounds)[0], expected));
    CHECK(SameMessage((*rounds)[1], failed));
    CHECK((*rounds)[2].phase() == cohort::v1::ROUND_PHASE_COMMITTED);
    auto other = store->ListRounds("t2", 0, 10);
    REQUIRE_OK(other);
    REQUIRE(other->size() == 1);
    CHECK(other->front().phase() == cohort::v1::ROUND_PHASE_FAILED);

    Task t1_after = t1;
    t1_after.set_rounds_failed(2);
    t1_after.set_rounds_remaining(2);
    auto stored_t1 = store->GetTask("t1");
    REQUIRE_OK(stored_t1);
    CHECK(SameMessage(*stored_t1, t1_after));
    Task t2_after = t2;
    t2_after.set_rounds_failed(t2.rounds_failed() + 1);
    auto stored_t2 = store->GetTask("t2");
    REQUIRE_OK(stored_t2);
    CHECK(SameMessage(*stored_t2, t2_after));

    auto again = store->FailUnfinishedRounds("server restart");
    REQUIRE_OK(again);
    CHECK(*again == 0);
    stored_t1 = store->GetTask("t1");
    REQUIRE_OK(stored_t1);
    CHECK(SameMessage(*stored_t1, t1_after));
  }
}

void CommitRoundContract(const StoreFactory& factory) {
  SECTION("CommitRound_StoresModelOptimizerStateRoundAndTaskTogether") {
    auto store = NewStoreWithTask(factory, "t1");
    REQUIRE_OK(store->PutRound(MakeRound("t1", 1, cohort::v1::ROUND_PHASE_UNMASKING)));
    const RoundSummary round = MakeRound("t1", 1, cohort::v1::ROUND_PHASE_COMMITTED);
    const Task task = Committed(MakeTask("t1"), 1);
    REQUIRE_OK(store->CommitRound(round, MakeModel(1), task, MakeOptimizerState(1)));
    auto model = store->GetModel("t1", 1);
    REQUIRE_OK(model);
    CHECK(SameMessage(*model, MakeModel(1)));
    auto rounds = store->ListRounds("t1", 0, 10);
    REQUIRE_OK(rounds);
    REQUIRE(rounds->size() == 1);
    CHECK(SameMessage(rounds->front(), round));
    auto stored = store->GetTask("t1");
    REQUIRE_OK(stored);
    CHECK(SameMessage(*stored, task));
    auto state = store->GetOptimizerState("t1", 1);
    REQUIRE_OK(state);
    CHECK(SameMessage(*state, MakeOptimizerState(1)));
    // The initial model has no optimizer state; an unknown task none either.
    REQUIRE_CODE(store->GetOptimizerState("t1", 0), absl::StatusCode::kNotFound);
    REQUIRE_CODE(store->GetOptimizerState("nope", 1), absl::StatusCode::kNotFound);
  }
  SECTION("CommitRound_KeepsTheOptimizerStateOfEachVersion") {
    auto store = NewStoreWithTask(factory, "t1");
    for (int64_t v = 1; v <= 3; ++v) {
      REQUIRE_OK(store->CommitRound(MakeRound("t1", v, cohort::v1::ROUND_PHASE_COMMITTED),
                                    MakeModel(v), Committed(MakeTask("t1"), v),
                                    MakeOptimizerState(v, 1000, 3)));
    }
    for (int64_t v = 1; v <= 3; ++v) {
      auto state = store->GetOptimizerState("t1", v);
      REQUIRE_OK(state);
      CHECK(SameMessage(*state, MakeOptimizerState(v, 1000, 3)));
    }
  }
  SECTION("CommitRound_DuplicateVersionChangesNothing") {
    auto store = NewStoreWithTask(factory, "t1");
    const Task after_first = Committed(MakeTask("t1"), 1);
    REQUIRE_OK(store->CommitRound(MakeRound("t1", 1, cohort::v1::ROUND_PHASE_COMMITTED),
                                  MakeModel(1), after_first, MakeOptimizerState(1)));
    Task bogus = Committed(MakeTask("t1"), 1);
    bogus.set_rounds_committed(99);
    bogus.set_state(cohort::v1::TASK_STATE_PAUSED);
    REQUIRE_CODE(store->CommitRound(MakeRound("t1", 2, cohort::v1::ROUND_PHASE_COMMITTED),
                                    MakeModel(1, 16, 7), bogus, MakeOptimizerState(1, 16, 7)),
                 absl::StatusCode::kAlreadyExists);
    // Version 0 (the initial model) counts too.
    REQUIRE_CODE(store->CommitRound(MakeRound("t1", 2, cohort::v1::ROUND_PHASE_COMMITTED),
                                    MakeModel(0, 16, 7), bogus, MakeOptimizerState(0, 16, 7)),
                 absl::StatusCode::kAlreadyExists);

    auto task = store->GetTask("t1");
    REQUIRE_OK(task);
    CHECK(SameMessage(*task, after_first));
    auto model = store->GetModel("t1", 1);
    REQUIRE_OK(model);
    CHECK(SameMessage(*model, MakeModel(1)));
    auto initial = store->GetModel("t1", 0);
    REQUIRE_OK(initial);
    CHECK(SameMessage(*initial, MakeModel(0)));
    auto state = store->GetOptimizerState("t1", 1);
    REQUIRE_OK(state);
    CHECK(SameMessage(*state, MakeOptimizerState(1)));
    REQUIRE_CODE(store->GetOptimizerState("t1", 0), absl::StatusCode::kNotFound);
    auto rounds = store->ListRounds("t1", 0, 10);
    REQUIRE_OK(rounds);
    CHECK(RoundNumbers(*rounds) == std::vector<int64_t>{1});
  }
  SECTION("CommitRound_UnknownTaskIsNotFoundAndStoresNothing") {
    auto store = factory();
    REQUIRE_CODE(store->CommitRound(MakeRound("nope", 1, cohort::v1::ROUND_PHASE_COMMITTED),
                                    MakeModel(1), MakeTask("nope"), MakeOptimizerState(1)),
                 absl::StatusCode::kNotFound);
    REQUIRE_CODE(store->GetModel("nope", 1), absl::StatusCode::kNotFound);
    REQUIRE_CODE(store->ListRounds("nope", 0, 10), absl::StatusCode::kNotFound);
  }
  SECTION("CommitRound_RoundOfAnotherTaskIsInvalidArgument") {
    auto store = NewStoreWithTask(factory, "t1");
    REQUIRE_OK(store->CreateTask(MakeTask("t2"), MakeModel(0)));
    REQUIRE_CODE(
        store->CommitRound(MakeRound("t2", 1, cohort::v1::ROUND_PHASE_COMMITTED), MakeModel(1),
                           Committed(MakeTask("t1"), 1), MakeOptimizerState(1)),
        absl::StatusCode::kInvalidArgument);
    REQUIRE_CODE(store->GetModel("t1", 1), absl::StatusCode::kNotFound);
    REQUIRE_CODE(store->GetOptimizerState("t1", 1), absl::StatusCode::kNotFound);
  }
}

Task WithPrivacy(Task task, int64_t rounds, double spent, double budget) {
  auto* p = task.mutable_privacy();
  p->set_mechanism(cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN);
  p->set_delta(1e-5);
  p->set_epsilon_budget(budget);
  p->set_epsilon_spent(spent);
  p->set_rounds_charged(rounds);
  for (double order : {2.0, 8.0, 32.0}) {
    p->add_rdp_orders(order);
    p->add_rdp(0.01 * static_cast<double>(rounds) * order);
  }
  return task;
}

namespace {

RoundSummary Charged(RoundSummary round, double round_epsilon, double spent) {
  auto* p = round.mutable_privacy();
  p->set_mechanism(cohort::v1::DP_MECHANISM_DISTRIBUTED_DISCRETE_GAUSSIAN);
  p->set_charged(true);
  p->set_round_epsilon(round_epsilon);
  p->set_epsilon_spent(spent);
  return round;
}

}  // namespace

void PrivacyContract(const StoreFactory& factory) {
  SECTION("CommitRound_StoresWhatTheRoundSpentWithTheCommit") {
    auto store = factory();
    REQUIRE_OK(store->CreateTask(WithPrivacy(MakeTask("t1"), 0, 0, 3.0), MakeModel(0)));
    const Task task = WithPrivacy(Committed(MakeTask("t1"), 1), 1, 1.25, 3.0);
    const RoundSummary round =
        Charged(MakeRound("t1", 1, cohort::v1::ROUND_PHASE_COMMITTED), 1.25, 1.25);
    REQUIRE_OK(store->CommitRound(round, MakeModel(1), task, MakeOptimizerState(1)));
    auto stored = store->GetTask("t1");
    REQUIRE_OK(stored);
    CHECK(SameMessage(stored->privacy(), task.privacy()));
    auto rounds = store->ListRounds("t1", 0, 10);
    REQUIRE_OK(rounds);
    REQUIRE(rounds->size() == 1);
    CHECK(rounds->front().privacy().charged());
    CHECK(rounds->front().privacy().epsilon_spent() == 1.25);
  }
  SECTION("CommitRound_RefusesATaskThatOverspendsAndStoresNothing") {
    auto store = factory();
    REQUIRE_OK(store->CreateTask(WithPrivacy(MakeTask("t1"), 0, 0, 3.0), MakeModel(0)));
    REQUIRE_CODE(
        store->CommitRound(Charged(MakeRound("t1", 1, cohort::v1::ROUND_PHASE_COMMITTED), 3.5, 3.5),
                           MakeModel(1), WithPrivacy(Committed(MakeTask("t1"), 1), 1, 3.5, 3.0),
                           MakeOptimizerState(1)),
        absl::StatusCode::kFailedPrecondition);
    REQUIRE_CODE(store->GetModel("t1", 1), absl::StatusCode::kNotFound);
    auto rounds = store->ListRounds("t1", 0, 10);
    REQUIRE_OK(rounds);
    CHECK(rounds->empty());
    auto stored = store->GetTask("t1");
    REQUIRE_OK(stored);
    CHECK(stored->privacy().epsilon_spent() == 0);
    // Spending exactly the budget is allowed.
    REQUIRE_OK(
        store->CommitRound(Charged(MakeRound("t1", 1, cohort::v1::ROUND_PHASE_COMMITTED), 3.0, 3.0),
                           MakeModel(1), WithPrivacy(Committed(MakeTask("t1"), 1), 1, 3.0, 3.0),
                           MakeOptimizerState(1)));
  }
  SECTION("UpdateTask_RefusesAStaleTaskThatForgetsSpending") {
    auto store = factory();
    REQUIRE_OK(store->CreateTask(WithPrivacy(MakeTask("t1"), 0, 0, 3.0), MakeModel(0)));
    REQUIRE_OK(
        store->CommitRound(Charged(MakeRound("t1", 1, cohort::v1::ROUND_PHASE_COMMITTED), 1.0, 1.0),
                           MakeModel(1), WithPrivacy(Committed(MakeTask("t1"), 1), 2, 1.5, 3.0),
                           MakeOptimizerState(1)));
    REQUIRE_CODE(store->UpdateTask(WithPrivacy(Committed(MakeTask("t1"), 1), 1, 1.0, 3.0)),
                 absl::StatusCode::kFailedPrecondition);
    REQUIRE_CODE(store->UpdateTask(WithPrivacy(Committed(MakeTask("t1"), 1), 2, 3.5, 3.0)),
                 absl::StatusCode::kFailedPrecondition);
    auto stored = store->GetTask("t1");
    REQUIRE_OK(stored);
    CHECK(stored->privacy().rounds_charged() == 2);
    // Pausing (same spending) is an ordinary update.
    Task paused = WithPrivacy(Committed(MakeTask("t1"), 1), 2, 1.5, 3.0);
    paused.set_state(cohort::v1::TASK_STATE_PAUSED);
    REQUIRE_OK(store->UpdateTask(paused));
  }
  SECTION("CreateTask_RefusesATaskAlreadyOverItsBudget") {
    auto store = factory();
    REQUIRE_CODE(store->CreateTask(WithPrivacy(MakeTask("t1"), 1, 2.0, 1.0), MakeModel(0)),
                 absl::StatusCode::kFailedPrecondition);
    REQUIRE_CODE(store->GetTask("t1"), absl::StatusCode::kNotFound);
  }
}

void ParticipationContract(const StoreFactory& factory) {
  SECTION("LastSelected_NeverSelectedIsEmpty") {
    auto store = NewStoreWithTask(factory, "t1");
    auto last = store->LastSelected("t1", "device-a");
    REQUIRE_OK(last);
    CHECK_FALSE(last->has_value());
  }
  SECTION("LastSelected_UnknownTaskIsNotFound") {
    auto store = factory();
    REQUIRE_CODE(store->LastSelected("nope", "device-a"), absl::StatusCode::kNotFound);
  }
  SECTION("LastSelected_IsTheLatestSelectedAt") {
    auto store = NewStoreWithTask(factory, "t1");
    REQUIRE_OK(store->CreateTask(MakeTask("t2"), MakeModel(0)));
    const absl::Time t1 = kT0, t2 = kT0 + absl::Minutes(1), t3 = kT0 + absl::Minutes(2);
    REQUIRE_OK(store->RecordParticipation({Record("t1", "a", t1, 1), Record("t1", "a", t3, 3)}));
    // Out of order: an older record appended later does not move LastSelected back.
    REQUIRE_OK(store->RecordParticipation({Record("t1", "a", t2, 2), Record("t1", "b", t1, 1)}));
    REQUIRE_OK(store->RecordParticipation({Record("t2", "a", t3 + absl::Hours(1), 1)}));
    REQUIRE_OK(store->RecordParticipation({}));

    auto a = store->LastSelected("t1", "a");
    REQUIRE_OK(a);
    REQUIRE(a->has_value());
    CHECK(**a == t3);
    auto b = store->LastSelected("t1", "b");
    REQUIRE_OK(b);
    REQUIRE(b->has_value());
    CHECK(**b == t1);
    auto other_task = store->LastSelected("t2", "a");
    REQUIRE_OK(other_task);
    REQUIRE(other_task->has_value());
    CHECK(**other_task == t3 + absl::Hours(1));
  }
  SECTION("LastSelected_KeepsMicroseconds") {
    auto store = NewStoreWithTask(factory, "t1");
    const absl::Time precise = kT0 + absl::Nanoseconds(123'456'789);
    REQUIRE_OK(store->RecordParticipation({Record("t1", "a", precise)}));
    auto last = store->LastSelected("t1", "a");
    REQUIRE_OK(last);
    REQUIRE(last->has_value());
    CHECK(**last == kT0 + absl::Microseconds(123'456));
  }
  SECTION("RecordParticipation_UnknownTaskRecordsNothing") {
    auto store = NewStoreWithTask(factory, "t1");
    REQUIRE_OK(store->RecordParticipation({Record("t1", "a", kT0)}));
    REQUIRE_CODE(store->RecordParticipation(
                     {Record("t1", "a", kT0 + absl::Hours(1)), Record("nope", "a", kT0)}),
                 absl::StatusCode::kNotFound);
    auto last = store->LastSelected("t1", "a");
    REQUIRE_OK(last);
    REQUIRE(last->has_value());
    CHECK(**last == kT0);
  }
  SECTION("RecordParticipation_ManyRecordsAtOnce") {
    auto store = NewStoreWithTask(factory, "t1");
    std::vector<ParticipationRecord> records;
    for (int i = 0; i < 2500; ++i) {
      records.push_back(
          Record("t1", absl::StrCat("device-", i), kT0 + absl::Seconds(i), 1 + i / 1000));
    }
    REQUIRE_OK(store->RecordParticipation(records));
    for (int i : {0, 999, 1000, 2499}) {
      auto last = store->LastSelected("t1", absl::StrCat("device-", i));
      REQUIRE_OK(last);
      REQUIRE(last->has_value());
      CHECK(**last == kT0 + absl::Seconds(i));
    }
  }
}

void AuditContract(const StoreFactory& factory) {
  SECTION("ListAudit_EmptyStoreIsEmpty") {
    auto store = factory();
    auto entries = store->ListAudit(10);
    REQUIRE_OK(entries);
    CHECK(entries->empty());
  }
  SECTION("ListAudit_NewestFirstLimited") {
    auto store = factory();
    for (int minute : {2, 0, 4, 1, 3}) {
      REQUIRE_OK(
          store->AppendAudit(Audit(kT0 + absl::Minutes(minute), absl::StrCat("Action", minute))));
    }
    auto all = store->ListAudit(10);
    REQUIRE_OK(all);
    REQUIRE(all->size() == 5);
    for (int i = 0; i < 5; ++i) {
      CHECK((*all)[i].action == absl::StrCat("Action", 4 - i));
      CHECK((*all)[i].time == kT0 + absl::Minutes(4 - i));
    }
    CHECK((*all)[0].actor == "admin");
    CHECK((*all)[0].task_id == "t");
    CHECK((*all)[0].detail == "detail of Action4");
    auto three = store->ListAudit(3);
    REQUIRE_OK(three);
    REQUIRE(three->size() == 3);
    CHECK((*three)[2].action == "Action2");
    auto none = store->ListAudit(0);
    REQUIRE_OK(none);
    CHECK(none->empty());
    REQUIRE_CODE(store->ListAudit(-1), absl::StatusCode::kInvalidArgument);
  }
  SECTION("ListAudit_EqualTimesNewestAppendedFirst") {
    auto store = factory();
    REQUIRE_OK(store->AppendAudit(Audit(kT0, "First")));
    REQUIRE_OK(store->AppendAudit(Audit(kT0, "Second")));
    auto entries = store->ListAudit(2);
    REQUIRE_OK(entries);
    REQUIRE(entries->size() == 2);
    CHECK((*entries)[0].action == "Second");
    CHECK((*entries)[1].action == "First");
  }
}

void CalibrationContract(const StoreFactory& factory) {
  SECTION("GetCalibrationData_IsEmptyUntilAttachedThenTheLatestBytes") {
    auto store = NewStoreWithTask(factory, "t1");
    auto none = store->GetCalibrationData("t1");
    REQUIRE_OK(none);
    CHECK(none->empty());
    const std::string first("\0\x01\x80\xff float bytes", 16);  // the NUL included
    REQUIRE_OK(store->PutCalibrationData("t1", first));
    auto got = store->GetCalibrationData("t1");
    REQUIRE_OK(got);
    CHECK(*got == first);
    REQUIRE_OK(store->PutCalibrationData("t1", "replacement"));
    CHECK(*store->GetCalibrationData("t1") == "replacement");
  }
  SECTION("CalibrationData_OfAnUnknownTaskIsNotFound") {
    auto store = factory();
    REQUIRE_CODE(store->PutCalibrationData("nope", "x"), absl::StatusCode::kNotFound);
    REQUIRE_CODE(store->GetCalibrationData("nope"), absl::StatusCode::kNotFound);
  }
  SECTION("GetModel_KeepsTheModelsLayerGraph") {
    auto store = factory();
    cohort::v1::Model model = MakeModel(0);
    model.mutable_graph()->add_input_shape(4);
    model.mutable_graph()->add_layers()->set_name("dense");
    REQUIRE_OK(store->CreateTask(MakeTask("t1"), model));
    auto got = store->GetModel("t1", 0);
    REQUIRE_OK(got);
    CHECK(SameMessage(*got, model));
  }
}

void ConcurrencyContract(const StoreFactory& factory) {
  SECTION("Concurrency_ThreadsWritingTheirOwnTasks") {
    auto store = factory();
    constexpr int kThreads = 6;
    constexpr int kVersions = 5;
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const std::string id = absl::StrCat("task-", t);
        auto count = [&](const absl::Status& s) {
          if (!s.ok()) failures.fetch_add(1);
        };
        count(store->CreateTask(MakeTask(id), MakeModel(0)));
        for (int v = 1; v <= kVersions; ++v) {
          count(store->PutRound(MakeRound(id, v, cohort::v1::ROUND_PHASE_MASKED_INPUT)));
          count(store->RecordParticipation({Record(id, "d", kT0 + absl::Seconds(v), v)}));
          count(store->CommitRound(MakeRound(id, v, cohort::v1::ROUND_PHASE_COMMITTED),
                                   MakeModel(v, 16, t), Committed(MakeTask(id), v),
                                   MakeOptimizerState(v)));
          count(store->AppendAudit(Audit(kT0, absl::StrCat(id, "-", v))));
          count(StatusOf(store->GetLatestModel(id)));
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    CHECK(failures.load() == 0);
    auto tasks = store->ListTasks();
    REQUIRE_OK(tasks);
    CHECK(tasks->size() == kThreads);
    for (int t = 0; t < kThreads; ++t) {
      const std::string id = absl::StrCat("task-", t);
      auto latest = store->GetLatestModel(id);
      REQUIRE_OK(latest);
      CHECK(SameMessage(*latest, MakeModel(kVersions, 16, t)));
      auto rounds = store->ListRounds(id, 0, 100);
      REQUIRE_OK(rounds);
      CHECK(rounds->size() == kVersions);
      auto last = store->LastSelected(id, "d");
      REQUIRE_OK(last);
      CHECK(*last == kT0 + absl::Seconds(kVersions));
    }
    auto audit = store->ListAudit(1000);
    REQUIRE_OK(audit);
    CHECK(audit->size() == kThreads * kVersions);
  }
  SECTION("Concurrency_RacingCommitsOfOneVersionExactlyOneWins") {
    auto store = NewStoreWithTask(factory, "t1");
    constexpr int kThreads = 6;
    std::vector<absl::Status> results(kThreads);
    std::vector<std::thread> threads;
    std::atomic<bool> go{false};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        Task task = Committed(MakeTask("t1"), 1);
        task.set_rounds_failed(t);  // tells which thread's task was stored
        results[t] = store->CommitRound(MakeRound("t1", 1, cohort::v1::ROUND_PHASE_COMMITTED),
                                        MakeModel(1, 16, t), task, MakeOptimizerState(1));
      });
    }
    go.store(true);
    for (std::thread& thread : threads) thread.join();
    int winner = -1;
    for (int t = 0; t < kThreads; ++t) {
      INFO("thread " << t << ": " << results[t].ToString());
      if (results[t].ok()) {
        CHECK(winner == -1);
        winner = t;
      } else {
        CHECK(results[t].code() == absl::StatusCode::kAlreadyExists);
      }
    }
    REQUIRE(winner >= 0);
    auto latest = store->GetLatestModel("t1");
    REQUIRE_OK(latest);
    CHECK(SameMessage(*latest, MakeModel(1, 16, winner)));
    auto task = store->GetTask("t1");
    REQUIRE_OK(task);
    CHECK(task->rounds_failed() == winner);
  }
}

}  // namespace cohort::server::test_util
