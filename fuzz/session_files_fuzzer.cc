// What a device restores from its storage dir (client_sdk/src/session_store.h, then
// SessionMachine::Restore and SecureRound::Deserialize): files an older SDK, another process or
// a damaged disk left there. Input: u8 file (0 round.pb, 1 input.bin, 2 identity.key,
// 3 pace.pb), u8 flags (bit 0: the store has a storage key), u16 expected input size, then the
// file's bytes. The seeds are files a real round writes, plain and sealed (`--write-seeds DIR`).
// Properties: nothing crashes; a restored identity is 32 bytes; a restored input has the size
// asked for; a snapshot that restores gives a session machine without crashing; what was
// loaded saves and loads back equal (the snapshot, the input, the identity, the pace time).

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "client_sdk/src/secure_round.h"
#include "client_sdk/src/session_machine.h"
#include "client_sdk/src/session_store.h"
#include "fuzz/fuzz_input.h"
#include "secagg/parameter_finder.h"
#include "secagg/testing/fake_random_source.h"

namespace {

using cohort::client::internal::SessionSnapshot;
using cohort::client::internal::SessionStore;
using cohort::fuzz::Input;
using cohort::fuzz::Output;

const char* const kFiles[] = {"round.pb", "input.bin", "identity.key", "pace.pb"};
const std::string kKey(32, 'k');

const std::string& Dir() {
  static const std::string* dir = [] {
    char pattern[] = "/tmp/cohort-session-fuzz-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) std::abort();
    return new std::string(pattern);
  }();
  return *dir;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

cohort::v1::RoundPlan Plan() {
  cohort::v1::RoundPlan plan;
  plan.set_task_id("task");
  plan.set_round_id("task/r1");
  plan.set_participant_index(1);
  plan.mutable_codec()->set_modulus_bits(24);
  plan.mutable_codec()->set_vector_length(10);
  cohort::v1::SecAggParams* s = plan.mutable_secagg();
  s->set_num_participants(100);
  s->set_threat_model(cohort::v1::THREAT_MODEL_HONEST_BUT_CURIOUS);
  s->set_dropout_rate(0.1);
  s->set_corrupted_fraction(0.05);
  s->set_security_bits(40);
  s->set_correctness_bits(20);
  cohort::secagg::ParameterOptions o;
  o.num_participants = 100;
  o.dropout_rate = 0.1;
  o.corrupted_fraction = 0.05;
  const cohort::secagg::SecAggParameters p = *cohort::secagg::FindParameters(o);
  s->set_neighbour_degree(p.neighbour_degree);
  s->set_threshold(p.threshold);
  return plan;
}

// The files of a round in flight, as the SDK writes them, with or without a storage key.
std::vector<std::string> SeedFiles(bool sealed) {
  const std::string dir = Dir() + (sealed ? "/seed-sealed" : "/seed-plain");
  auto store = *SessionStore::Open(dir, sealed ? kKey : "");
  cohort::secagg::FakeRandomSource rng(5);
  const cohort::secagg::SigningKey identity = cohort::secagg::SigningKey::Generate(rng);
  const cohort::v1::RoundPlan plan = Plan();
  auto round = *cohort::client::internal::SecureRound::Create(plan, identity, {}, nullptr);
  SessionSnapshot snapshot;
  snapshot.set_format_version(1);
  snapshot.set_session_token("token");
  snapshot.set_task_id("task");
  snapshot.set_round_id("task/r1");
  snapshot.set_plan(plan.SerializeAsString());
  snapshot.set_keys_advertised(true);
  snapshot.set_secagg_session(*round->Serialize());
  if (!store->SaveRound(snapshot).ok() || !store->SaveInput(std::string(30, '\x05')).ok() ||
      !store->LoadOrCreateIdentity(std::string(32, 'i')).ok() ||
      !store->SaveNextCheckIn(absl::FromUnixSeconds(1'800'000'000)).ok()) {
    std::abort();
  }
  std::vector<std::string> seeds;
  for (uint8_t file = 0; file < 4; ++file) {
    Output out;
    out.U8(file).U8(sealed ? 1 : 0).U64(30, 2);
    seeds.push_back(out.bytes() + ReadFile(dir + "/" + kFiles[file]));
  }
  return seeds;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  std::vector<std::string> seeds = SeedFiles(false);
  for (std::string& s : SeedFiles(true)) seeds.push_back(std::move(s));
  cohort::fuzz::MaybeWriteSeeds(*argc, *argv, seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint8_t file = in.U8() % 4;
  const bool sealed = (in.U8() & 1) != 0;
  const int64_t expected = static_cast<int64_t>(in.U64(2));
  const std::string dir = Dir() + "/store";
  {
    auto store = SessionStore::Open(dir, sealed ? kKey : "");
    if (!store.ok()) std::abort();
    (void)(*store)->WipeRound();
  }
  WriteFile(dir + "/" + kFiles[file], in.Bytes(size));
  auto store = SessionStore::Open(dir, sealed ? kKey : "");
  if (!store.ok()) std::abort();
  switch (file) {
    case 0: {
      absl::StatusOr<std::optional<SessionSnapshot>> snapshot = (*store)->LoadRound();
      if (!snapshot.ok() || !snapshot->has_value()) break;
      {
        if (!(*store)->SaveRound(**snapshot).ok()) std::abort();
        absl::StatusOr<std::optional<SessionSnapshot>> again = (*store)->LoadRound();
        if (!again.ok() || !again->has_value() ||
            (*again)->SerializeAsString() != (*snapshot)->SerializeAsString()) {
          std::abort();
        }
      }
      auto machine = cohort::client::internal::SessionMachine::Restore(
          **snapshot, cohort::client::internal::SessionPolicy(), [] { return 0.5; });
      if (!machine.ok() || !machine->plan().has_value()) break;
      (void)cohort::client::internal::SecureRound::Deserialize(
          *machine->plan(), (*snapshot)->secagg_session(), nullptr);
      break;
    }
    case 1: {
      absl::StatusOr<std::string> input = (*store)->LoadInput(expected);
      if (input.ok() && static_cast<int64_t>(input->size()) != expected) std::abort();
      if (input.ok()) {
        if (!(*store)->SaveInput(*input).ok()) std::abort();
        absl::StatusOr<std::string> again = (*store)->LoadInput(expected);
        if (!again.ok() || *again != *input) std::abort();
      }
      break;
    }
    case 2: {
      absl::StatusOr<std::string> seed = (*store)->LoadOrCreateIdentity(std::string(32, 'n'));
      if (seed.ok() && seed->size() != 32) std::abort();
      if (seed.ok()) {
        // Stored now: a second load returns it, not the new seed offered.
        absl::StatusOr<std::string> again = (*store)->LoadOrCreateIdentity(std::string(32, 'm'));
        if (!again.ok() || *again != *seed) std::abort();
      }
      ::unlink((dir + "/identity.key").c_str());
      break;
    }
    case 3: {
      absl::StatusOr<absl::Time> next = (*store)->LoadNextCheckIn();
      if (next.ok() && *next != absl::InfinitePast() && *next != absl::InfiniteFuture()) {
        if (!(*store)->SaveNextCheckIn(*next).ok()) std::abort();
        absl::StatusOr<absl::Time> again = (*store)->LoadNextCheckIn();
        if (!again.ok() || *again != *next) std::abort();
      }
      ::unlink((dir + "/pace.pb").c_str());
      break;
    }
  }
  return 0;
}
