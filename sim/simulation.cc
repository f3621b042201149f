#include "sim/simulation.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "client_sdk/trainer/eigen_trainer.h"
#include "cohort/client/client.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "sim/admin_client.h"
#include "sim/dataset.h"
#include "sim/in_process_server.h"
#include "sim/inference_report.h"
#include "sim/partition.h"
#include "sim/random.h"
#include "sim/svg_plot.h"
#include "sim/traffic_counter.h"

namespace cohort::sim {
namespace {

// Training images attached as the task's calibration data (model::kMaxCalibrationExamples at most).
constexpr int64_t kCalibrationExamples = 500;

using client::Stage;

absl::StatusOr<std::string> ReadModelFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--model: cannot read ", path));
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// How often the evaluator asks the server how the task is doing.
constexpr absl::Duration kPollInterval = absl::Milliseconds(200);
// Give up when no round ends for this long (a wedged server or federation).
constexpr absl::Duration kStallLimit = absl::Minutes(10);

// What a server restart looks like to a client: the channel reconnects by itself.
bool IsServerAway(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

double Seconds(const google::protobuf::Timestamp& from, const google::protobuf::Timestamp& to) {
  return static_cast<double>(to.seconds() - from.seconds()) +
         static_cast<double>(to.nanos() - from.nanos()) * 1e-9;
}

std::string RandomHex(int bytes) {
  std::random_device device;
  std::string out;
  for (int i = 0; i < bytes; ++i) absl::StrAppendFormat(&out, "%02x", device() & 0xff);
  return out;
}

// Mean local training loss per round, as the devices' trainers report it.
class TrainLossBook {
 public:
  void Add(int64_t round, double loss, int64_t examples) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& [sum, n] = by_round_[round];
    sum += loss * static_cast<double>(examples);
    n += examples;
  }
  double Mean(int64_t round) const {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = by_round_.find(round);
    if (it == by_round_.end() || it->second.second == 0) return -1.0;
    return it->second.first / static_cast<double>(it->second.second);
  }

 private:
  mutable std::mutex mu_;
  std::map<int64_t, std::pair<double, int64_t>> by_round_;
};

// The device's EigenTrainer, with its training loss noted for the per-round report.
class RecordingTrainer : public client::Trainer {
 public:
  RecordingTrainer(std::unique_ptr<client::EigenTrainer> inner, TrainLossBook* book)
      : inner_(std::move(inner)), book_(book) {}

  absl::StatusOr<client::TrainingResult> Train(const client::ModelLayout& layout,
                                               absl::Span<const float> parameters,
                                               const client::TrainingParams& params) override {
    absl::StatusOr<client::TrainingResult> result = inner_->Train(layout, parameters, params);
    const auto round = params.extra.find("round");
    if (result.ok() && round != params.extra.end()) {
      book_->Add(static_cast<int64_t>(round->second), result->loss, result->num_examples);
    }
    return result;
  }
  absl::StatusOr<client::EvaluationResult> Evaluate(
      const client::ModelLayout& layout, absl::Span<const float> parameters) override {
    return inner_->Evaluate(layout, parameters);
  }

 private:
  std::unique_ptr<client::EigenTrainer> inner_;
  TrainLossBook* book_;
};

// One simulated phone. The participation thread (a pool worker inside RunOnce) and the SDK's
// on_progress callback touch the atomics; everything else is touched by the pool worker that
// holds the device.
struct Device {
  int index = 0;
  std::string id;
  std::unique_ptr<RecordingTrainer> trainer;
  std::unique_ptr<client::Client> client;
  std::unique_ptr<SplitMix64> rng;
  // The stage at which the participation in flight vanishes (-1: it does not).
  std::atomic<int> vanish_at{-1};
  std::atomic<bool> vanished{false};
  std::atomic<int64_t> round{0};
  // After vanishing, the device stays away until this round has ended: a phone that lost its
  // connection does not come back into the same round.
  int64_t away_until_round_ended = 0;
};

class SimulationImpl : public Simulation {
 public:
  explicit SimulationImpl(SimOptions options) : options_(std::move(options)) {}
  ~SimulationImpl() override;

  absl::Status Init();
  absl::StatusOr<SimulationResult> Run() override;

 private:
  absl::Status LoadData();
  absl::Status StartOrConnectServer();
  absl::Status JoinTask();
  // Asks for the rounds this run observes that the task has not queued already.
  absl::Status StartRounds();
  void PrintHeader() const;
  // The server restarting or briefly unreachable: the run waits for it (up to the stall limit),
  // saying so once on stderr, and says when it is back.
  void ReportServerAway(const absl::Status& status);
  void ReportServerBack();
  absl::Status CreateDevices();
  void StartWorkers();
  void StopWorkers();
  void Worker();
  absl::Time RunDevice(Device& device);
  int ChooseVanishStage(SplitMix64& rng) const;
  absl::StatusOr<RoundMetrics> MeasureRound(const cohort::v1::RoundSummary& summary,
                                            const TrafficTotals& traffic);
  absl::Status WriteOutputs(const SimulationResult& result) const;

  SimOptions options_;
  std::string output_dir_;
  std::string storage_root_;
  FashionMnist data_;
  Partition partition_;
  std::unique_ptr<client::EigenTrainer> evaluator_;
  TrainLossBook train_losses_;

  std::unique_ptr<InProcessServer> server_;
  std::string device_address_;
  std::string tls_root_certs_pem_;  // --tls_ca, for the admin channel and every device
  std::unique_ptr<AdminClient> admin_;
  std::string task_id_;

  std::vector<std::unique_ptr<Device>> devices_;
  std::atomic<int64_t> last_ended_round_{0};
  // --task: the task as it was when we joined, and the first round this run observes.
  std::optional<cohort::v1::Task> joined_task_;
  int64_t first_round_ = 1;
  bool server_away_ = false;
  std::atomic<int64_t> injected_dropouts_{0};
  std::atomic<int64_t> device_errors_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  using Slot = std::pair<absl::Time, int>;
  std::priority_queue<Slot, std::vector<Slot>, std::greater<>> ready_;  // guarded by mu_
  bool stopping_ = false;                                               // guarded by mu_
  std::atomic<bool> stop_requested_{false};
  std::atomic<int> active_workers_{0};
  std::vector<std::thread> workers_;
};

SimulationImpl::~SimulationImpl() {
  StopWorkers();
  devices_.clear();
  server_.reset();
  if (!storage_root_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(storage_root_, ignored);
  }
}

absl::Status SimulationImpl::Init() {
  COHORT_RETURN_IF_ERROR(ValidateSimOptions(options_));
  // Before any channel exists: the counter hooks every channel the process creates.
  InstallDeviceTrafficCounter();
  output_dir_ = options_.output_dir;
  if (output_dir_.empty()) output_dir_ = "out/sim";
  std::error_code error;
  std::filesystem::create_directories(output_dir_, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("--output_dir: cannot create ", output_dir_, ": ", error.message()));
  }
  // The summary names the files by absolute path, so they can be found from anywhere.
  output_dir_ = std::filesystem::absolute(output_dir_, error).lexically_normal().string();
  if (!output_dir_.empty() && output_dir_.back() == '/') output_dir_.pop_back();
  COHORT_RETURN_IF_ERROR(LoadData());
  COHORT_RETURN_IF_ERROR(StartOrConnectServer());
  if (!options_.task_id.empty()) {
    COHORT_RETURN_IF_ERROR(JoinTask());
  } else {
    std::string onnx_model;
    if (IsOnnxModel(options_)) {
      COHORT_ASSIGN_OR_RETURN(onnx_model, ReadModelFile(options_.model));
    }
    COHORT_ASSIGN_OR_RETURN(const cohort::v1::Task task,
                            admin_->CreateTask(MakeTaskConfig(options_), onnx_model));
    task_id_ = task.task_id();
  }
  // A joined task is someone else's: its calibration data stays as its owner set it.
  if (options_.on_device_report && !joined_task_.has_value()) {
    COHORT_RETURN_IF_ERROR(admin_->AttachCalibrationData(
        task_id_, CalibrationExamples(data_.train, kCalibrationExamples)));
  }
  return CreateDevices();
}

absl::Status SimulationImpl::JoinTask() {
  absl::StatusOr<cohort::v1::Task> task = admin_->GetTask(options_.task_id);
  if (absl::IsNotFound(task.status())) {
    return absl::NotFoundError(absl::StrCat("--task: the server has no task '", options_.task_id,
                                            "' (cohortctl list-tasks shows its tasks)"));
  }
  COHORT_RETURN_IF_ERROR(task.status());
  if (task->state() == cohort::v1::TASK_STATE_PAUSED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--task: task '", options_.task_id, "' is paused; resume it (cohortctl resume) first"));
  }
  task_id_ = task->task_id();
  joined_task_ = *task;
  options_.population = task->config().population();
  // Rounds that ended before we joined are not this run's.
  COHORT_ASSIGN_OR_RETURN(const std::vector<cohort::v1::RoundSummary> rounds,
                          admin_->ListRounds(task_id_, 100));
  for (const cohort::v1::RoundSummary& s : rounds) {
    if (s.phase() == cohort::v1::ROUND_PHASE_COMMITTED ||
        s.phase() == cohort::v1::ROUND_PHASE_FAILED) {
      last_ended_round_.store(std::max(last_ended_round_.load(), s.round_number()));
    }
  }
  first_round_ = last_ended_round_.load() + 1;
  return absl::OkStatus();
}

absl::Status SimulationImpl::LoadData() {
  COHORT_ASSIGN_OR_RETURN(data_, LoadFashionMnist(options_.data_dir));
  if (options_.partition == "iid") {
    COHORT_ASSIGN_OR_RETURN(partition_,
                            PartitionIid(data_.train.size(), options_.devices, options_.seed));
  } else {
    COHORT_ASSIGN_OR_RETURN(partition_, PartitionDirichlet(data_.train.labels, options_.devices,
                                                           options_.alpha, options_.seed));
  }
  COHORT_ASSIGN_OR_RETURN(
      evaluator_, client::EigenTrainer::Create(data_.test.features, data_.test.labels,
                                               data_.test.num_features, options_.seed));
  return absl::OkStatus();
}

absl::Status SimulationImpl::StartOrConnectServer() {
  std::string admin_address = options_.admin_server;
  std::string token = options_.admin_token;
  if (options_.server.empty()) {
    token = RandomHex(16);
    absl::StatusOr<std::unique_ptr<InProcessServer>> server = InProcessServer::Start(token);
    if (!server.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot start the in-process cohort-server: ", server.status().ToString()));
    }
    server_ = *std::move(server);
    device_address_ = absl::StrCat("127.0.0.1:", server_->device_port());
    admin_address = absl::StrCat("127.0.0.1:", server_->admin_port());
  } else {
    device_address_ = options_.server;
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options_.tls_ca_file.empty()) {
    std::ifstream in(options_.tls_ca_file);
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in || pem.str().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_ca: cannot read '", options_.tls_ca_file, "'"));
    }
    tls_root_certs_pem_ = pem.str();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls_root_certs_pem_;
    credentials = grpc::SslCredentials(ssl);
  }
  auto channel = grpc::CreateChannel(admin_address, credentials);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach the admin service at ", admin_address, " within 10 s"));
  }
  admin_ = std::make_unique<AdminClient>(std::move(channel), token);
  return absl::OkStatus();
}

absl::Status SimulationImpl::CreateDevices() {
  char temp[] = "/tmp/cohort-sim-XXXXXX";
  if (mkdtemp(temp) == nullptr) {
    return absl::InternalError("cannot create a temporary directory for the devices' storage");
  }
  storage_root_ = temp;
  for (int d = 0; d < options_.devices; ++d) {
    auto device = std::make_unique<Device>();
    device->index = d;
    device->id = absl::StrFormat("cohort-sim-device-%06d", d);
    device->rng = std::make_unique<SplitMix64>(MixSeed(options_.seed, 0xde71ce00ULL + d));
    Dataset shard = Subset(data_.train, partition_[d]);
    COHORT_ASSIGN_OR_RETURN(
        std::unique_ptr<client::EigenTrainer> trainer,
        client::EigenTrainer::Create(
            std::move(shard.features), std::move(shard.labels), shard.num_features,
            client::EigenTrainer::Options{MixSeed(options_.seed, d), options_.holdout}));
    device->trainer = std::make_unique<RecordingTrainer>(std::move(trainer), &train_losses_);

    client::Config config;
    config.server_address = device_address_;
    config.tls_root_certs_pem = tls_root_certs_pem_;
    config.population = options_.population;
    config.device_id_provider = [id = device->id] { return id; };
    config.storage_dir = absl::StrCat(storage_root_, "/", device->id);
    // Loopback: the simulation's devices answer quickly or not at all (dropout injection), so
    // back off briefly after a transient error.
    config.initial_backoff = absl::Milliseconds(100);
    config.max_backoff = absl::Seconds(2);
    Device* raw = device.get();
    config.on_progress = [raw](const client::Progress& progress) {
      raw->round.store(progress.round_number, std::memory_order_relaxed);
      if (static_cast<int>(progress.stage) == raw->vanish_at.load() &&
          !raw->vanished.exchange(true)) {
        raw->client->Cancel();
      }
    };
    // Transient errors the SDK retries by itself; visible with --log_level=debug.
    config.on_error = [d]([[maybe_unused]] const absl::Status& status) {
      COHORT_LOG_DEBUG("device failed device={} status={}", d, status.ToString());
      (void)d;
    };
    COHORT_ASSIGN_OR_RETURN(device->client,
                            client::Client::Create(std::move(config), device->trainer.get()));
    device->client->SetEligibility(
        {.charging = true, .unmetered_network = true, .idle = true, .battery_percent = 100});
    devices_.push_back(std::move(device));
  }
  // The training data now lives in the devices' shards only.
  data_.train = Dataset();
  return absl::OkStatus();
}

int SimulationImpl::ChooseVanishStage(SplitMix64& rng) const {
  // A phase of the protocol, uniformly; inside MASKED_INPUT the device vanishes while training or
  // while uploading. Without secure aggregation MASKED_INPUT is the only phase.
  if (!options_.secagg) {
    static constexpr Stage kPlain[] = {Stage::kDownloadingModel, Stage::kTraining,
                                       Stage::kUploading};
    return static_cast<int>(kPlain[rng.NextBelow(3)]);
  }
  switch (rng.NextBelow(4)) {
    case 0: return static_cast<int>(Stage::kAdvertisingKeys);
    case 1: return static_cast<int>(Stage::kSharingKeys);
    case 2:
      return static_cast<int>(rng.NextBelow(2) == 0 ? Stage::kTraining : Stage::kUploading);
    default: return static_cast<int>(Stage::kUnmasking);
  }
}

absl::Time SimulationImpl::RunDevice(Device& device) {
  const absl::Time now = absl::Now();
  SplitMix64& rng = *device.rng;
  const auto jitter = [&rng](int max_ms) {
    return absl::Milliseconds(static_cast<int64_t>(rng.NextBelow(max_ms + 1)));
  };
  if (stop_requested_.load()) return now;
  if (device.away_until_round_ended > last_ended_round_.load()) {
    return now + absl::Milliseconds(500) + jitter(200);
  }
  // The vanishing decision is drawn per participation; it only takes effect if the device is
  // selected and reaches the chosen stage.
  const bool drop = options_.dropout > 0 && rng.NextDouble() < options_.dropout;
  device.vanished.store(false);
  device.vanish_at.store(drop ? ChooseVanishStage(rng) : -1);
  absl::StatusOr<client::ParticipationOutcome> outcome = device.client->RunOnce();
  device.vanish_at.store(-1);
  if (device.vanished.load()) {
    injected_dropouts_.fetch_add(1);
    device.away_until_round_ended = device.round.load();
    return absl::Now() + absl::Milliseconds(500);
  }
  if (!outcome.ok()) {
    device_errors_.fetch_add(1);
    COHORT_LOG_DEBUG("participation failed device={} status={}", device.index,
                     outcome.status().ToString());
    return absl::Now() + absl::Milliseconds(500) + jitter(500);
  }
  if (outcome->kind == client::OutcomeKind::kRetryLater) {
    return std::max(outcome->retry_at, absl::Now()) + jitter(20);
  }
  return absl::Now() + absl::Milliseconds(50) + jitter(200);
}

void SimulationImpl::Worker() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (ready_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const auto [when, index] = ready_.top();
    const absl::Time now = absl::Now();
    if (when > now) {
      cv_.wait_for(lock, absl::ToChronoMilliseconds(when - now + absl::Milliseconds(1)));
      continue;
    }
    ready_.pop();
    lock.unlock();
    const absl::Time next = RunDevice(*devices_[index]);
    lock.lock();
    ready_.push({next, index});
    cv_.notify_one();
  }
}

void SimulationImpl::StartWorkers() {
  int threads = options_.device_threads;
  if (threads == 0) threads = 2 * SelectedCohortSize(options_) + 4;
  threads = std::min(threads, options_.devices);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
    // Spread the first check-ins over a second rather than a stampede at t = 0.
    const absl::Time start = absl::Now();
    SplitMix64 rng(MixSeed(options_.seed, 0x57a47));
    for (int d = 0; d < options_.devices; ++d) {
      ready_.push({start + absl::Milliseconds(static_cast<int64_t>(rng.NextBelow(1000))), d});
    }
  }
  stop_requested_.store(false);
  active_workers_.store(threads);
  for (int t = 0; t < threads; ++t) {
    workers_.emplace_back([this] {
      Worker();
      active_workers_.fetch_sub(1);
    });
  }
}

void SimulationImpl::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (workers_.empty()) return;
    stopping_ = true;
  }
  stop_requested_.store(true);
  cv_.notify_all();
  // A participation that starts after Cancel() runs normally, so cancel until every worker has
  // left: a worker may have been between its stop check and RunOnce.
  while (active_workers_.load() > 0) {
    for (auto& device : devices_) device->client->Cancel();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

absl::StatusOr<RoundMetrics> SimulationImpl::MeasureRound(const cohort::v1::RoundSummary& s,
                                                          const TrafficTotals& traffic) {
  RoundMetrics m;
  m.round = s.round_number();
  m.committed = s.phase() == cohort::v1::ROUND_PHASE_COMMITTED;
  m.model_version = m.committed ? s.new_model_version() : 0;
  m.failure_reason = s.failure_reason();
  m.cohort = s.selected();
  m.survivors = s.contributors();
  m.dropouts = s.dropouts();
  if (s.has_evaluation() && s.evaluation().examples() > 0) {
    m.federated_accuracy = s.evaluation().accuracy();
    m.federated_loss = s.evaluation().mean_loss();
    m.federated_examples = s.evaluation().examples();
  }
  m.train_loss = train_losses_.Mean(m.round);
  m.bytes_up = traffic.up;
  m.bytes_down = traffic.down;
  const double devices = std::max(1, m.cohort);
  m.bytes_up_per_device = static_cast<double>(traffic.up) / devices;
  m.bytes_down_per_device = static_cast<double>(traffic.down) / devices;
  if (s.has_started_at() && s.has_ended_at()) m.round_seconds = Seconds(s.started_at(), s.ended_at());
  if (s.privacy().charged()) m.epsilon_spent = s.privacy().epsilon_spent();
  if (s.privacy().bits() > 0) m.dp_bits = s.privacy().bits();
  if (m.committed) {
    COHORT_ASSIGN_OR_RETURN(ModelVersion model, admin_->DownloadModel(task_id_, m.model_version));
    COHORT_ASSIGN_OR_RETURN(client::EvaluationResult eval,
                            evaluator_->Evaluate(model.layout, model.parameters));
    m.test_accuracy = eval.accuracy;
    m.test_loss = eval.loss;
  }
  return m;
}

absl::Status SimulationImpl::WriteOutputs(const SimulationResult& result) const {
  COHORT_RETURN_IF_ERROR(WriteFile(result.csv_path, MetricsCsv(result.rounds)));
  COHORT_RETURN_IF_ERROR(WriteFile(result.json_path, MetricsJson(result.rounds,
                                                                 OptionsJson(options_))));
  const std::string title = absl::StrFormat(
      "cohort-sim: %s, %d devices, %s%s, %s, %s", options_.model, options_.devices,
      options_.partition,
      options_.partition == "dirichlet" ? absl::StrFormat("(%g)", options_.alpha) : "",
      options_.secagg ? "SecAgg+" : "no SecAgg",
      options_.dp != "none"
          ? absl::StrFormat("DP %s", options_.dp)
          : (options_.quantize ? absl::StrFormat("%d-bit", options_.bits) : "float32"));
  return WriteFile(result.svg_path, RenderRoundsSvg(result.rounds, title));
}

void SimulationImpl::ReportServerAway(const absl::Status& status) {
  if (server_away_) return;
  server_away_ = true;
  std::fprintf(stderr, "cohort-sim: server unreachable, waiting for it: %s\n",
               status.ToString().c_str());
}

void SimulationImpl::ReportServerBack() {
  if (!server_away_) return;
  server_away_ = false;
  std::fprintf(stderr, "cohort-sim: server back\n");
}

absl::Status SimulationImpl::StartRounds() {
  int64_t queued = 0;
  if (joined_task_.has_value()) {
    if (joined_task_->continuous()) return absl::OkStatus();
    // The round in flight is among the remaining ones until it ends.
    queued = joined_task_->rounds_remaining() + joined_task_->evaluation_rounds_remaining();
  }
  if (queued >= options_.rounds) return absl::OkStatus();
  return admin_->StartRounds(task_id_, options_.rounds - queued).status();
}

void SimulationImpl::PrintHeader() const {
  if (joined_task_.has_value()) {
    std::printf("cohort-sim: joined task %s (population %s), %d devices, observing rounds %lld-%lld\n",
                task_id_.c_str(), options_.population.c_str(), options_.devices,
                static_cast<long long>(first_round_),
                static_cast<long long>(first_round_ + options_.rounds - 1));
    std::fflush(stdout);
    return;
  }
  std::string privacy = "no SecAgg, float32 updates";
  if (options_.secagg) {
    privacy = absl::StrFormat(
        "SecAgg+ (sized for %.0f%% dropout, round-failure bound 2^-%d), %d-bit updates",
        100 * SecAggDropoutRate(options_).value_or(0), SecAggCorrectnessBits(options_).value_or(0),
        options_.bits);
  } else if (options_.quantize) {
    privacy = absl::StrFormat("no SecAgg, %d-bit updates", options_.bits);
  }
  std::printf("cohort-sim: task %s, %d devices, %d selected per round (target %d, commit with "
              ">= %d), %d rounds, %s\n",
              task_id_.c_str(), options_.devices, SelectedCohortSize(options_),
              TargetCohortSize(options_), MinParticipants(options_), options_.rounds,
              privacy.c_str());
  std::fflush(stdout);
}

absl::StatusOr<SimulationResult> SimulationImpl::Run() {
  SimulationResult result;
  result.output_dir = output_dir_;
  result.csv_path = absl::StrCat(output_dir_, "/metrics.csv");
  result.json_path = absl::StrCat(output_dir_, "/metrics.json");
  result.svg_path = absl::StrCat(output_dir_, "/plot.svg");
  const absl::Time start = absl::Now();

  StartWorkers();
  if (absl::Status started = StartRounds(); !started.ok()) {
    StopWorkers();
    return started;
  }
  if (!options_.quiet) PrintHeader();

  TrafficTotals traffic_mark = DeviceTraffic();
  int64_t processed = 0;
  absl::Time last_progress = absl::Now();
  absl::Status failure;
  while (processed < options_.rounds) {
    absl::SleepFor(kPollInterval);
    const absl::Time now = absl::Now();
    if (options_.time_limit > absl::ZeroDuration() && now - start > options_.time_limit) {
      failure = absl::DeadlineExceededError(
          absl::StrCat("--time_limit ", absl::FormatDuration(options_.time_limit),
                       " reached after ", processed, " rounds"));
      break;
    }
    if (now - last_progress > kStallLimit) {
      failure = absl::DeadlineExceededError(absl::StrCat(
          "no round ended for ", absl::FormatDuration(kStallLimit), " after round ", processed));
      break;
    }
    absl::StatusOr<std::vector<cohort::v1::RoundSummary>> rounds =
        admin_->ListRounds(task_id_, 100);
    if (IsServerAway(rounds.status())) {
      ReportServerAway(rounds.status());
      continue;
    }
    if (absl::IsNotFound(rounds.status())) {
      failure = absl::NotFoundError(absl::StrCat(
          "task ", task_id_, " is gone from the server (a restarted server with the in-memory "
          "store keeps no tasks): ", rounds.status().message()));
      break;
    }
    if (!rounds.ok()) {
      failure = rounds.status();
      break;
    }
    ReportServerBack();
    // Newest first on the wire; handle the ended ones we have not seen, oldest first.
    std::vector<cohort::v1::RoundSummary> ended;
    for (const cohort::v1::RoundSummary& s : *rounds) {
      const bool done = s.phase() == cohort::v1::ROUND_PHASE_COMMITTED ||
                        s.phase() == cohort::v1::ROUND_PHASE_FAILED;
      if (done && s.round_number() > last_ended_round_.load()) ended.push_back(s);
    }
    std::sort(ended.begin(), ended.end(), [](const auto& a, const auto& b) {
      return a.round_number() < b.round_number();
    });
    // Traffic since the last poll is the traffic of the rounds that ended since (a task's rounds
    // run one at a time). Scoring a round's model can take longer than a round, so one poll may
    // see several: they share the traffic evenly rather than the first taking it all.
    const TrafficTotals now_traffic = DeviceTraffic();
    const int64_t rounds_seen = std::max<int64_t>(1, static_cast<int64_t>(ended.size()));
    TrafficTotals delta;
    delta.up = (now_traffic.up - traffic_mark.up) / rounds_seen;
    delta.down = (now_traffic.down - traffic_mark.down) / rounds_seen;
    if (!ended.empty()) traffic_mark = now_traffic;
    for (const cohort::v1::RoundSummary& s : ended) {
      absl::StatusOr<RoundMetrics> m = MeasureRound(s, delta);
      if (IsServerAway(m.status())) {
        ReportServerAway(m.status());
        break;  // measured again at the next poll
      }
      if (!m.ok()) {
        failure = m.status();
        break;
      }
      last_ended_round_.store(s.round_number());
      result.rounds.push_back(*m);
      ++processed;
      last_progress = absl::Now();
      if (!options_.quiet) {
        std::printf("%s\n", FormatRoundLine(*m, first_round_ + options_.rounds - 1).c_str());
        std::fflush(stdout);
      }
      if (absl::Status written = WriteOutputs(result); !written.ok()) {
        failure = written;
        break;
      }
    }
    if (!failure.ok()) break;
  }
  StopWorkers();

  result.wall_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  result.injected_dropouts = injected_dropouts_.load();
  int64_t committed = 0;
  for (const RoundMetrics& m : result.rounds) {
    if (!m.committed) {
      ++result.rounds_failed;
      continue;
    }
    ++committed;
    result.final_accuracy = m.test_accuracy;
    result.final_loss = m.test_loss;
    result.mean_round_seconds += m.round_seconds;
    result.mean_bytes_up_per_device += m.bytes_up_per_device;
    result.mean_bytes_down_per_device += m.bytes_down_per_device;
  }
  result.rounds_committed = committed;
  if (committed > 0) {
    result.mean_round_seconds /= static_cast<double>(committed);
    result.mean_bytes_up_per_device /= static_cast<double>(committed);
    result.mean_bytes_down_per_device /= static_cast<double>(committed);
  }
  COHORT_RETURN_IF_ERROR(WriteOutputs(result));
  if (!failure.ok()) return failure;
  if (options_.on_device_report && committed > 0) {
    COHORT_ASSIGN_OR_RETURN(
        result.on_device,
        FetchAndScoreInferenceModels(*devices_.front()->client, task_id_, data_.test, output_dir_));
    COHORT_RETURN_IF_ERROR(WriteFile(absl::StrCat(output_dir_, "/inference.json"),
                                     InferenceReportJson(*result.on_device)));
  }
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Simulation>> Simulation::Create(SimOptions options) {
  auto simulation = std::make_unique<SimulationImpl>(std::move(options));
  COHORT_RETURN_IF_ERROR(simulation->Init());
  return simulation;
}

std::string FormatSummary(const SimOptions& options, const SimulationResult& r) {
  std::string out = absl::StrFormat(
      "\ncohort-sim finished: %d rounds committed, %d failed, in %.1f s\n"
      "  final test accuracy   %.2f%% (loss %.4f) of the %s model\n"
      "  mean round time       %.2f s\n"
      "  mean bytes per device %s up, %s down per round (%s)\n",
      r.rounds_committed, r.rounds_failed, r.wall_seconds, 100.0 * r.final_accuracy, r.final_loss,
      options.model, r.mean_round_seconds, FormatBytes(r.mean_bytes_up_per_device),
      FormatBytes(r.mean_bytes_down_per_device),
      options.dp != "none"
          ? (options.secagg ? absl::StrFormat("SecAgg+, %s DP", options.dp)
                            : std::string("plain float32, central DP"))
          : (options.secagg ? absl::StrFormat("SecAgg+, %d-bit", options.bits)
                            : (options.quantize ? absl::StrFormat("no SecAgg, %d-bit", options.bits)
                                                : "plain float32 FedAvg")));
  if (options.dropout > 0) {
    absl::StrAppendFormat(&out, "  injected dropouts     %d (rate %.2f per selected device)\n",
                          r.injected_dropouts, options.dropout);
  }
  if (options.dp != "none") {
    double spent = 0;
    int32_t bits = 0;
    for (const RoundMetrics& m : r.rounds) {
      spent = std::max(spent, m.epsilon_spent);
      bits = std::max(bits, m.dp_bits);
    }
    absl::StrAppendFormat(&out, "  privacy               %s, epsilon %.3f at delta %g%s\n",
                          options.dp, spent, options.dp_delta,
                          bits > 0 ? absl::StrFormat(", %d-bit ring", bits) : std::string());
  }
  if (r.on_device.has_value()) out += FormatInferenceReport(*r.on_device);
  absl::StrAppendFormat(&out, "  metrics               %s\n                        %s\n",
                        r.csv_path, r.json_path);
  absl::StrAppendFormat(&out, "  plot                  %s\n", r.svg_path);
  return out;
}

}  // namespace cohort::sim
