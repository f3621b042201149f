#include "tools/output_format.h"

#include <limits>
#include <string>

#include <catch2/catch.hpp>

#include "google/protobuf/text_format.h"

namespace cohort::ctl {
namespace {

cohort::v1::Task RunningTask() {
  cohort::v1::Task task;
  google::protobuf::TextFormat::ParseFromString(R"pb(
    task_id: "fmnist-7"
    config { population: "phones" }
    state: TASK_STATE_RUNNING
    rounds_remaining: 3
    latest_model_version: 12
    rounds_committed: 12
    rounds_failed: 1
    created_at { seconds: 1764642003 nanos: 500 }
    current_round { round_number: 14 phase: ROUND_PHASE_SHARE_KEYS selected: 13
                    started_at { seconds: 1764642603 } }
  )pb", &task);
  return task;
}

TEST_CASE("IsoTime_IsUtcWithoutFractionsAndADashWhenUnset") {
  google::protobuf::Timestamp t;
  CHECK(IsoTime(t) == "-");
  t.set_seconds(1764642003);
  t.set_nanos(999'000'000);
  CHECK(IsoTime(t) == "2025-12-02T02:20:03Z");
}

TEST_CASE("TasksTable_AlignsOneRowPerTaskAndSaysWhenThereAreNone") {
  cohort::v1::ListTasksResponse tasks;
  CHECK(TasksTable(tasks) == "No tasks.\n");
  *tasks.add_tasks() = RunningTask();
  cohort::v1::Task idle;
  idle.set_task_id("t2");
  idle.set_state(cohort::v1::TASK_STATE_IDLE);
  idle.set_continuous(true);
  *tasks.add_tasks() = idle;
  const std::string table = TasksTable(tasks);
  CHECK(table ==
        "TASK      POPULATION  STATE    ROUND          COMMITTED  FAILED  REMAINING   MODEL  "
        "CREATED\n"
        "fmnist-7  phones      RUNNING  14 SHARE_KEYS  12         1       3           12     "
        "2025-12-02T02:20:03Z\n"
        "t2                    IDLE     -              0          0       continuous  0      "
        "-\n");
}

TEST_CASE("TaskDetail_ShowsTheRoundInFlightAndWhenNoneIs") {
  cohort::v1::Task task = RunningTask();
  std::string detail = TaskDetail(task);
  CHECK_THAT(detail, Catch::Contains("state:      RUNNING\n"));
  CHECK_THAT(detail, Catch::Contains("rounds:     12 committed, 1 failed, 3 remaining\n"));
  CHECK_THAT(detail,
             Catch::Contains("round:      14 SHARE_KEYS since 2025-12-02T02:30:03Z, 13 selected\n"));
  task.clear_current_round();
  CHECK_THAT(TaskDetail(task), Catch::Contains("round:      none in flight\n"));
}

TEST_CASE("RoundsTable_GivesDurationModelAndFailureAndSaysWhenEmpty") {
  cohort::v1::ListRoundsResponse rounds;
  CHECK(RoundsTable(rounds) == "No rounds.\n");
  google::protobuf::TextFormat::ParseFromString(R"pb(
    rounds { round_number: 2 phase: ROUND_PHASE_FAILED selected: 13 contributors: 0
             started_at { seconds: 100 } ended_at { seconds: 103 nanos: 500000000 }
             failure_reason: "aborted: test" }
    rounds { round_number: 1 phase: ROUND_PHASE_COMMITTED selected: 13 contributors: 11
             dropouts: 2 new_model_version: 1 evaluation { accuracy: 0.8125 } }
  )pb", &rounds);
  const std::string table = RoundsTable(rounds);
  CHECK_THAT(table, Catch::StartsWith("ROUND  PHASE      SELECTED"));
  CHECK_THAT(table, Catch::Contains("2      FAILED     13"));
  CHECK_THAT(table, Catch::Contains("3.5"));
  CHECK_THAT(table, Catch::Contains("aborted: test"));
  CHECK_THAT(table, Catch::Contains("0.8125\n"));  // no blanks after an empty last cell
}

TEST_CASE("EventLine_IsOneLineWithTimeTaskKindRoundAndMessage") {
  cohort::v1::RoundEvent event;
  event.set_kind(cohort::v1::RoundEvent::KIND_PHASE_CHANGED);
  event.mutable_time()->set_seconds(1764642003);
  event.set_task_id("t");
  event.set_round_number(4);
  event.set_phase(cohort::v1::ROUND_PHASE_UNMASKING);
  event.set_message("u3=9");
  CHECK(EventLine(event) == "2025-12-02T02:20:03Z  t  PHASE_CHANGED  round 4 UNMASKING  u3=9\n");
}

TEST_CASE("ToYaml_NestsMessagesListsRepeatedsQuotesStringsAndWritesIsoTimes") {
  cohort::v1::ListRoundsResponse rounds;
  google::protobuf::TextFormat::ParseFromString(R"pb(
    rounds { round_number: 1 round_id: "007" started_at { seconds: 1764642003 } }
    rounds { round_number: 2 phase: ROUND_PHASE_COMMITTED }
  )pb", &rounds);
  CHECK(ToYaml(rounds) ==
        "rounds:\n"
        "- round_number: 1\n"
        "  round_id: \"007\"\n"
        "  started_at: \"2025-12-02T02:20:03Z\"\n"
        "- round_number: 2\n"
        "  phase: ROUND_PHASE_COMMITTED\n");
  CHECK(ToYaml(cohort::v1::ListRoundsResponse()) == "{}\n");

  cohort::v1::RoundSummary odd;
  odd.set_failure_reason("don't \"stop\"\n\xc3\xa9t\xc3\xa9");  // quotes, newline, UTF-8
  CHECK(ToYaml(odd) == "failure_reason: \"don't \\\"stop\\\"\\n\xc3\xa9t\xc3\xa9\"\n");
  cohort::v1::PrivacyBudget budget;
  budget.set_epsilon_spent(0.1 + 0.2);  // 0.30000000000000004, not 6 digits
  budget.set_delta(std::numeric_limits<double>::infinity());
  CHECK(ToYaml(budget) == "delta: .inf\nepsilon_spent: 0.30000000000000004\n");
}

TEST_CASE("ParseOutputFormat_KnowsFourAndNamesThemOtherwise") {
  CHECK(*ParseOutputFormat("table") == OutputFormat::kTable);
  CHECK(*ParseOutputFormat("yaml") == OutputFormat::kYaml);
  const auto bad = ParseOutputFormat("xml");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()), Catch::Contains("table, json, yaml or text"));
}

TEST_CASE("Render_TableFallsBackToYamlForMessagesWithoutAView") {
  cohort::v1::PrivacyBudget budget;
  budget.set_epsilon_spent(1.5);
  CHECK(Render(budget, OutputFormat::kTable) == "epsilon_spent: 1.5\n");
  const std::string json = Render(RunningTask(), OutputFormat::kJson);
  CHECK_THAT(json, Catch::Contains("\"taskId\":\"fmnist-7\""));
  CHECK(json.find('\n') == std::string::npos);  // one object per line for line-based readers
}

}  // namespace
}  // namespace cohort::ctl
