// Crash-safe device answers (issue 15, docs/secagg.md#crash-safety), with SDK devices against the
// real server. A victim device is killed between building and sending every answer that reveals
// something (its share bundles, its report of which bundles opened, each masked chunk, its
// survivor signature, its unmasking answer) and after sending some of them, and restored from
// its storage dir each time; after its unmasking answer went out, a lying server asks it again
// with another request. What it sent again must be what it sent before, the server must never
// hold both secrets of one device, and a save that fails or an encoded input lost after the
// shares arrived must make the device leave.

#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "tests/client_sdk/secagg_fleet.h"

namespace cohort::client {
namespace {

using test_util::FleetOptions;
using test_util::SdkDevice;
using test_util::SecAggFleet;

// The calls whose content must never change across restarts, keyed by what they answer.
std::string KeyOf(const std::string& method, const google::protobuf::Message& request) {
  if (method == "UploadMaskedInput") {
    return absl::StrCat(method, "/",
                        static_cast<const v1::UploadMaskedInputRequest&>(request).chunk_index());
  }
  return method;
}

bool Revealing(const std::string& method) {
  return method == "ShareKeys" || method == "ReportShares" || method == "UploadMaskedInput" ||
         method == "SignSurvivors" || method == "SubmitUnmasking";
}

// Every revealing call of every device (attempted, whether or not it reached the server), and
// the shares the server was sent.
class Recorder {
 public:
  void Attempt(int device, const std::string& key, const std::string& bytes) {
    absl::MutexLock lock(&mu_);
    attempts_[{device, key}].push_back(bytes);
  }
  void Forwarded(const v1::SubmitUnmaskingRequest& r) {
    absl::MutexLock lock(&mu_);
    for (const auto& s : r.shares()) {
      if (s.has_self_mask_seed_share()) seed_released_.insert(s.neighbour_index());
      if (s.has_mask_key_share()) key_released_.insert(s.neighbour_index());
    }
  }
  // Keys of calls a device sent with two different contents.
  std::vector<std::string> Changed() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const auto& [key, versions] : attempts_) {
      for (const std::string& v : versions) {
        if (v != versions.front()) {
          out.push_back(absl::StrCat("device ", key.first, " ", key.second));
          break;
        }
      }
    }
    return out;
  }
  int Count(int device, const std::string& key) {
    absl::MutexLock lock(&mu_);
    auto it = attempts_.find({device, key});
    return it == attempts_.end() ? 0 : static_cast<int>(it->second.size());
  }
  // Participants whose self-mask seed and mask key both reached the server.
  std::vector<int32_t> BothSecretsReleased() {
    absl::MutexLock lock(&mu_);
    std::vector<int32_t> out;
    for (int32_t j : seed_released_) {
      if (key_released_.count(j) > 0) out.push_back(j);
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::map<std::pair<int, std::string>, std::vector<std::string>> attempts_ ABSL_GUARDED_BY(mu_);
  std::set<int32_t> seed_released_ ABSL_GUARDED_BY(mu_);
  std::set<int32_t> key_released_ ABSL_GUARDED_BY(mu_);
};

void Record(SdkDevice& d, Recorder& recorder) {
  d.before = [&d, &recorder](const std::string& method, const google::protobuf::Message& r,
                             google::protobuf::Message*) -> std::optional<grpc::Status> {
    if (Revealing(method)) recorder.Attempt(d.number, KeyOf(method, r), r.SerializeAsString());
    return std::nullopt;
  };
  d.after = [&recorder](const std::string& method, const google::protobuf::Message& r,
                        google::protobuf::Message*, grpc::Status*) {
    if (method == "SubmitUnmasking") {
      recorder.Forwarded(static_cast<const v1::SubmitUnmaskingRequest&>(r));
    }
  };
}

// Runs the device until its participation ends other than by being killed.
absl::StatusOr<ParticipationOutcome> RunUntilNotKilled(SdkDevice& d, int* lives) {
  while (true) {
    if (absl::Status s = d.Connect(); !s.ok()) return s;
    absl::StatusOr<ParticipationOutcome> r = d.client->RunOnce();
    d.Kill();
    ++*lives;
    if (r.status().code() != absl::StatusCode::kCancelled || *lives > 20) return r;
  }
}

void KillAndRestoreAtEveryRevealingAnswer(v1::ThreatModel model, const std::string& population) {
  SecAggFleet fleet({.population = population, .devices = 3, .threat_model = model});
  Recorder recorder;
  for (auto& d : fleet.devices) Record(*d, recorder);
  SdkDevice& victim = *fleet.devices[0];
  const bool semi = model == v1::THREAT_MODEL_SEMI_MALICIOUS;

  absl::Mutex mu;
  std::set<std::string> killed_before, killed_after;  // guarded by mu
  bool lie_told = false;                              // guarded by mu
  int victim_index = 0;                               // guarded by mu
  const std::vector<std::string> kill_before = {"ShareKeys", "ReportShares", "UploadMaskedInput/0",
                                                "SignSurvivors", "SubmitUnmasking"};
  const std::vector<std::string> kill_after = {"UploadMaskedInput/0", "SubmitUnmasking"};
  auto once = [&mu](std::set<std::string>& done, const std::vector<std::string>& points,
                    const std::string& key) {
    absl::MutexLock lock(&mu);
    if (std::find(points.begin(), points.end(), key) == points.end()) return false;
    return done.insert(key).second;
  };

  victim.before = [&](const std::string& method, const google::protobuf::Message& r,
                      google::protobuf::Message*) -> std::optional<grpc::Status> {
    const std::string key = KeyOf(method, r);
    if (Revealing(method)) recorder.Attempt(victim.number, key, r.SerializeAsString());
    if (once(killed_before, kill_before, key)) {
      victim.client->Cancel();  // the process dies with the answer built and persisted
      return grpc::Status(grpc::StatusCode::CANCELLED, "killed");
    }
    return std::nullopt;
  };
  victim.after = [&](const std::string& method, const google::protobuf::Message& r,
                     google::protobuf::Message* response, grpc::Status* status) {
    const std::string key = KeyOf(method, r);
    if (method == "SubmitUnmasking") {
      recorder.Forwarded(static_cast<const v1::SubmitUnmaskingRequest&>(r));
    }
    if (method == "WaitForPhase" && status->ok()) {
      auto* up = static_cast<v1::RoundUpdate*>(response);
      absl::MutexLock lock(&mu);
      if (up->has_plan()) victim_index = up->plan().participant_index();
      // Restored after answering: a lying server asks about one survivor's other secret.
      if (up->has_unmasking() && killed_after.count("SubmitUnmasking") > 0 &&
          up->unmasking().surviving_neighbours_size() > 0) {
        v1::UnmaskingRequest* u = up->mutable_unmasking();
        u->add_dropped_neighbours(u->surviving_neighbours(0));
        u->mutable_surviving_neighbours()->erase(u->mutable_surviving_neighbours()->begin());
        lie_told = true;
      }
    }
    if (status->ok() && once(killed_after, kill_after, key)) {
      victim.client->Cancel();  // sent, and the process dies before it hears the answer
      *status = grpc::Status(grpc::StatusCode::CANCELLED, "killed");
    }
  };
  // The others answer only once the victim was asked again, so the server is still unmasking
  // when it is.
  for (size_t i = 1; i < fleet.devices.size(); ++i) {
    SdkDevice& d = *fleet.devices[i];
    test_util::InterceptingStub::Before record = d.before;
    d.before = [&mu, &lie_told, record](
                   const std::string& method, const google::protobuf::Message& r,
                   google::protobuf::Message* out) -> std::optional<grpc::Status> {
      if (method == "SubmitUnmasking") {
        absl::MutexLock lock(&mu);
        mu.AwaitWithTimeout(absl::Condition(&lie_told), absl::Seconds(6));
      }
      return record(method, r, out);
    };
  }

  REQUIRE(fleet.server->StartRounds(fleet.task_id, 1).ok());
  int lives = 0;
  auto results = fleet.RunAll([&](SdkDevice& d) -> absl::StatusOr<ParticipationOutcome> {
    if (&d == &victim) return RunUntilNotKilled(d, &lives);
    if (absl::Status s = d.Connect(); !s.ok()) return s;
    return d.client->RunOnce();
  });
  absl::StatusOr<v1::Task> task =
      fleet.server->WaitForCommitted(fleet.task_id, 1, absl::Seconds(30));
  REQUIRE(task.ok());

  absl::MutexLock lock(&mu);
  INFO("lives " << lives);
  // Every kill point was reached (SignSurvivors only exists in semi-malicious rounds).
  for (const std::string& k : kill_before) {
    if (k == "SignSurvivors" && !semi) continue;
    INFO(k);
    CHECK(killed_before.count(k) == 1);
  }
  for (const std::string& k : kill_after) {
    INFO(k);
    CHECK(killed_after.count(k) == 1);
  }
  CHECK(lie_told);
  // Restored, it sent each revealing answer again with the same bytes, never other ones; the
  // lie got no answer at all.
  const std::vector<std::string> changed = recorder.Changed();
  INFO("sent with other contents: " << absl::StrJoin(changed, ", "));
  CHECK(changed.empty());
  CHECK(recorder.Count(victim.number, "ShareKeys") >= 2);
  CHECK(recorder.Count(victim.number, "SubmitUnmasking") >= 2);
  CHECK(recorder.BothSecretsReleased().empty());
  CHECK(victim_index > 0);
  // The round still commits with everyone's input.
  CHECK(task->rounds_committed() == 1);
  for (size_t i = 1; i < results.size(); ++i) {
    INFO(results[i].status().ToString());
    REQUIRE(results[i].ok());
    CHECK(results[i]->kind == OutcomeKind::kContributed);
  }
}

TEST_CASE("KilledAndRestoredAtEveryRevealingAnswer_SendsTheSameBytesOrNothing") {
  KillAndRestoreAtEveryRevealingAnswer(v1::THREAT_MODEL_HONEST_BUT_CURIOUS, "crash-hbc");
}

TEST_CASE("KilledAndRestoredAtEveryRevealingAnswer_SemiMalicious_SignsOneSetOnly") {
  KillAndRestoreAtEveryRevealingAnswer(v1::THREAT_MODEL_SEMI_MALICIOUS, "crash-sm");
}

// What a sabotaged device attempted.
struct Sabotaged {
  bool reported_shares = false;
  bool uploaded = false;
  bool left = false;
  absl::StatusOr<ParticipationOutcome> result = absl::UnknownError("not run");
};

TEST_CASE("FailedSave_BeforeReportingShares_DeviceLeavesTheRound") {
  SecAggFleet fleet({.population = "failed-save", .devices = 3});
  SdkDevice& victim = *fleet.devices[0];
  absl::Mutex mu;
  Sabotaged seen;  // guarded by mu
  victim.after = [&](const std::string& method, const google::protobuf::Message&,
                     google::protobuf::Message* response, grpc::Status* status) {
    if (method != "WaitForPhase" || !status->ok()) return;
    if (static_cast<v1::RoundUpdate*>(response)->has_incoming_shares()) {
      // The next save cannot create its temporary file.
      ::mkdir((victim.storage_dir + "/round.pb.tmp").c_str(), 0700);
    }
  };
  victim.before = [&](const std::string& method, const google::protobuf::Message&,
                      google::protobuf::Message*) -> std::optional<grpc::Status> {
    absl::MutexLock lock(&mu);
    seen.reported_shares |= method == "ReportShares";
    seen.uploaded |= method == "UploadMaskedInput";
    seen.left |= method == "Leave";
    return std::nullopt;
  };
  REQUIRE(fleet.server->StartRounds(fleet.task_id, 1).ok());
  auto results = fleet.RunAll();
  ::rmdir((victim.storage_dir + "/round.pb.tmp").c_str());
  absl::MutexLock lock(&mu);
  CHECK_FALSE(seen.reported_shares);
  CHECK_FALSE(seen.uploaded);
  CHECK(seen.left);
  CHECK(!(results[0].ok() && results[0]->kind == OutcomeKind::kContributed));
}

TEST_CASE("EncodedInputLostAfterShares_RestoredDeviceLeavesInsteadOfEncodingAgain") {
  SecAggFleet fleet({.population = "lost-input", .devices = 3});
  SdkDevice& victim = *fleet.devices[0];
  absl::Mutex mu;
  bool killed = false;  // guarded by mu
  Sabotaged seen;       // guarded by mu
  victim.before = [&](const std::string& method, const google::protobuf::Message&,
                      google::protobuf::Message*) -> std::optional<grpc::Status> {
    absl::MutexLock lock(&mu);
    if (method == "UploadMaskedInput" && !killed) {
      // Dies before its first chunk, with its shares received and its report sent.
      killed = true;
      victim.client->Cancel();
      return grpc::Status(grpc::StatusCode::CANCELLED, "killed");
    }
    seen.uploaded |= method == "UploadMaskedInput";
    seen.left |= method == "Leave";
    return std::nullopt;
  };
  REQUIRE(fleet.server->StartRounds(fleet.task_id, 1).ok());
  auto results = fleet.RunAll([&](SdkDevice& d) -> absl::StatusOr<ParticipationOutcome> {
    if (absl::Status s = d.Connect(); !s.ok()) return s;
    absl::StatusOr<ParticipationOutcome> r = d.client->RunOnce();
    if (&d != &victim) return r;
    d.Kill();
    // The app's data was cleared, or the file lost: the encoded input is gone.
    ::unlink((d.storage_dir + "/input.bin").c_str());
    if (absl::Status s = d.Connect(); !s.ok()) return s;
    return d.client->RunOnce();
  });
  absl::MutexLock lock(&mu);
  CHECK(killed);
  CHECK_FALSE(seen.uploaded);
  CHECK(seen.left);
  CHECK(!(results[0].ok() && results[0]->kind == OutcomeKind::kContributed));
}

}  // namespace
}  // namespace cohort::client
