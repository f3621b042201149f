// cohortctl: drives a cohort-server through its admin API.
//
//   export COHORT_ADMIN_TOKEN=...            # or --token_file
//   cohortctl --server=127.0.0.1:8444 create-task --config=task.textproto
//   cohortctl start --task=TASK --count=10
//   cohortctl status --task=TASK
//   cohortctl rounds --task=TASK --limit=20
//   cohortctl privacy --task=TASK            # epsilon spent, budget, per-round epsilon (DP)
//   cohortctl watch [--task=TASK]            # every task without --task
//   cohortctl download-model --task=TASK --out=model.bin
//   cohortctl create-task --config=task.textproto --model=model.onnx
//   cohortctl download-model --task=TASK --format=onnx --out=model.onnx
//
// Output is a table or a summary for people (-o table, the default), or the whole response as
// -o json, -o yaml or -o text (protobuf text); --json is -o json. Exit codes: 0 on
// success, 2 for bad usage, 1 when the server refused the call (its status is printed).

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "base/address.h"
#include "cli/conventions.h"
#include "codec/model.h"
#include "cohort/v1/admin.grpc.pb.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/grpcpp.h"
#include "model/onnx/onnx_import.h"
#include "tools/output_format.h"

namespace {

constexpr int kExitRefused = 1;
using cohort::cli::kExitUsage;

struct Connection {
  std::string server = "127.0.0.1:8444";
  std::string token_file;
  std::string tls_ca_file;
  bool tls = false;  // with the system's root certificates unless tls_ca_file is given
  std::string client_cert_file;
  std::string client_key_file;
  std::string output = "table";
  bool json = false;  // the older spelling of -o json
  cohort::ctl::OutputFormat format = cohort::ctl::OutputFormat::kTable;  // from the two above
};

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

class Admin {
 public:
  static std::unique_ptr<Admin> Connect(const Connection& connection, std::string* error) {
    std::string token;
    if (!connection.token_file.empty()) {
      token = ReadFileOrEmpty(connection.token_file);
      token = std::string(absl::StripAsciiWhitespace(token.substr(0, token.find('\n'))));
    } else if (const char* env = std::getenv("COHORT_ADMIN_TOKEN"); env != nullptr) {
      token = env;
    }
    if (token.empty()) {
      *error = "no admin token: pass --token_file=FILE or set COHORT_ADMIN_TOKEN";
      return nullptr;
    }
    const bool tls = connection.tls || !connection.tls_ca_file.empty();
    if (!tls && !cohort::IsLoopbackAddress(connection.server)) {
      *error = absl::StrCat("--server '", connection.server,
                            "' is not a loopback address: the admin token would travel in "
                            "plaintext; add --tls (system root certificates) or --tls_ca=FILE");
      return nullptr;
    }
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (!tls) {
      credentials = grpc::InsecureChannelCredentials();
    } else {
      grpc::SslCredentialsOptions ssl;  // empty roots: gRPC's default, the system's
      if (!connection.tls_ca_file.empty()) {
        ssl.pem_root_certs = ReadFileOrEmpty(connection.tls_ca_file);
        if (ssl.pem_root_certs.empty()) {
          *error = absl::StrCat("--tls_ca: cannot read '", connection.tls_ca_file, "'");
          return nullptr;
        }
      }
      if (!connection.client_cert_file.empty()) {
        ssl.pem_cert_chain = ReadFileOrEmpty(connection.client_cert_file);
        ssl.pem_private_key = ReadFileOrEmpty(connection.client_key_file);
      }
      credentials = grpc::SslCredentials(ssl);
    }
    auto admin = std::unique_ptr<Admin>(new Admin);
    admin->token_ = token;
    admin->format_ = connection.format;
    admin->stub_ = cohort::v1::AdminService::NewStub(
        grpc::CreateChannel(connection.server, credentials));
    return admin;
  }

  std::unique_ptr<grpc::ClientContext> Context(bool streaming = false) const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Bearer " + token_);
    if (!streaming) {
      context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    }
    return context;
  }

  int Print(const grpc::Status& status, const google::protobuf::Message& response) const {
    if (!status.ok()) {
      std::cerr << "cohortctl: " << StatusCodeName(status.error_code()) << ": "
                << status.error_message() << "\n";
      return kExitRefused;
    }
    std::cout << Format(response);
    return 0;
  }

  std::string Format(const google::protobuf::Message& message) const {
    return cohort::ctl::Render(message, format_);
  }
  cohort::ctl::OutputFormat format() const { return format_; }

  cohort::v1::AdminService::Stub& stub() { return *stub_; }

  static const char* StatusCodeName(grpc::StatusCode code) {
    switch (code) {
      case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
      case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
      case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
      case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
      case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
      case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
      case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
      case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
      default: return "ERROR";
    }
  }

 private:
  Admin() = default;
  std::string token_;
  cohort::ctl::OutputFormat format_ = cohort::ctl::OutputFormat::kTable;
  std::unique_ptr<cohort::v1::AdminService::Stub> stub_;
};

int CreateTask(Admin& admin, const std::string& config_file, const std::string& model_file) {
  const std::string text = ReadFileOrEmpty(config_file);
  if (text.empty()) {
    std::cerr << "cohortctl: --config: cannot read '" << config_file << "'\n";
    return kExitUsage;
  }
  cohort::v1::CreateTaskRequest request;
  if (!google::protobuf::TextFormat::ParseFromString(text, request.mutable_config())) {
    std::cerr << "cohortctl: --config: '" << config_file
              << "' is not a TaskConfig in protobuf text format\n";
    return kExitUsage;
  }
  if (!model_file.empty()) {
    // The server imports the file; parsing it here only gives a quicker, local error.
    const std::string model = ReadFileOrEmpty(model_file);
    if (model.empty()) {
      std::cerr << "cohortctl: --model: cannot read '" << model_file << "'\n";
      return kExitUsage;
    }
    request.set_onnx_model(model);
  }
  cohort::v1::Task task;
  return admin.Print(admin.stub().CreateTask(admin.Context().get(), request, &task), task);
}

// A DP task's budget in a few lines, then the charged rounds, newest first. -o json|yaml|text
// prints the
// task's PrivacyBudget message instead.
int Privacy(Admin& admin, const std::string& task_id, int32_t limit) {
  cohort::v1::GetTaskRequest get;
  get.set_task_id(task_id);
  cohort::v1::Task task;
  const grpc::Status status = admin.stub().GetTask(admin.Context().get(), get, &task);
  if (!status.ok() || admin.format() != cohort::ctl::OutputFormat::kTable) {
    return admin.Print(status, task.privacy());
  }
  const cohort::v1::PrivacyBudget& p = task.privacy();
  if (p.mechanism() == cohort::v1::DP_MECHANISM_UNSPECIFIED ||
      p.mechanism() == cohort::v1::DP_MECHANISM_NONE) {
    std::cout << "task " << task_id << " has no differential privacy\n";
    return 0;
  }
  std::cout << absl::StrFormat(
      "task %s  %s\n"
      "epsilon spent %.4f of %.4f at delta %.3g (standard conversion: %.4f)\n"
      "rounds charged %d; next round would bring epsilon to %.4f\n"
      "noise multiplier %.4g, clip norm now %.4g\n",
      task_id, cohort::v1::DpMechanism_Name(p.mechanism()), p.epsilon_spent(), p.epsilon_budget(),
      p.delta(), p.epsilon_spent_standard(), p.rounds_charged(), p.next_round_epsilon(),
      task.config().dp().noise_multiplier(), p.clip_norm());
  if (p.exhausted()) std::cout << "STOPPED: " << p.stop_reason() << "\n";
  cohort::v1::ListRoundsRequest request;
  request.set_task_id(task_id);
  request.set_page_size(limit);
  cohort::v1::ListRoundsResponse rounds;
  const grpc::Status listed = admin.stub().ListRounds(admin.Context().get(), request, &rounds);
  if (!listed.ok()) return admin.Print(listed, rounds);
  std::cout << "round  phase      round_eps  spent_eps  noise_std  clip     bits  n_min\n";
  for (const cohort::v1::RoundSummary& r : rounds.rounds()) {
    if (!r.has_privacy()) continue;
    const cohort::v1::RoundPrivacy& rp = r.privacy();
    std::string phase = cohort::v1::RoundPhase_Name(r.phase());
    if (phase.rfind("ROUND_PHASE_", 0) == 0) phase = phase.substr(12);
    std::cout << absl::StrFormat(
        "%5d  %-9s  %9s  %9s  %9.4g  %-7.4g  %4d  %5d\n", r.round_number(), phase,
        rp.charged() ? absl::StrFormat("%.4f", rp.round_epsilon()) : "-",
        rp.charged() ? absl::StrFormat("%.4f", rp.epsilon_spent()) : "-", rp.noise_stddev(),
        rp.clip_norm(), rp.bits(), rp.accounted_contributors());
  }
  return 0;
}

int Watch(Admin& admin, const std::string& task_id) {
  cohort::v1::WatchEventsRequest request;
  request.set_task_id(task_id);
  auto context = admin.Context(/*streaming=*/true);
  auto reader = admin.stub().WatchEvents(context.get(), request);
  cohort::v1::RoundEvent event;
  while (reader->Read(&event)) std::cout << admin.Format(event) << std::flush;
  const grpc::Status finished = reader->Finish();
  if (finished.ok()) return 0;  // the server closed the stream (shutting down)
  return admin.Print(finished, cohort::v1::RoundEvent());
}

// Writes `bytes` to `path` through a temporary file renamed into place, so a failure never
// leaves a partial or empty file behind.
bool WriteAtomically(const std::string& path, const std::string& bytes) {
  const std::string temp = path + ".part";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::remove(temp.c_str());
      return false;
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return false;
  }
  return true;
}

int DownloadModel(Admin& admin, const std::string& task_id, std::optional<int64_t> version,
                  const std::string& out_path, const std::string& format) {
  cohort::v1::AdminDownloadModelRequest request;
  request.set_task_id(task_id);
  // Unset asks for the latest; an explicit 0 is the initial model.
  if (version.has_value()) request.set_version(*version);
  auto context = admin.Context(/*streaming=*/true);
  auto reader = admin.stub().DownloadModel(context.get(), request);
  cohort::v1::ModelPart part;
  cohort::v1::ModelPart header;
  std::string parameters;
  bool first = true;
  while (reader->Read(&part)) {
    if (first) {
      header = part;
      header.clear_data();
      first = false;
    }
    parameters += part.data();
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return admin.Print(status, header);
  std::string bytes = parameters;
  if (format == "onnx") {
    if (!header.has_graph()) {
      std::cerr << "cohortctl: task " << task_id
                << " has no layer graph (a layout-only task); use --format=raw\n";
      return kExitRefused;
    }
    absl::StatusOr<std::vector<float>> floats = cohort::codec::FloatsFromBytes(parameters);
    absl::StatusOr<std::string> onnx =
        floats.ok() ? cohort::model::ExportOnnx(header.graph(), *floats)
                    : absl::StatusOr<std::string>(floats.status());
    if (!onnx.ok()) {
      std::cerr << "cohortctl: cannot write ONNX: " << onnx.status().message() << "\n";
      return kExitRefused;
    }
    bytes = *std::move(onnx);
  }
  if (!WriteAtomically(out_path, bytes)) {
    std::cerr << "cohortctl: --out: cannot write '" << out_path << "'\n";
    return kExitUsage;
  }
  std::cerr << "cohortctl: wrote " << bytes.size() << " bytes (" << format
            << ") of model version " << header.version() << " to " << out_path << "\n";
  return admin.Print(status, header);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cohortctl: operate a cohort-server through its admin API"};
  app.require_subcommand(1);
  Connection connection;
  app.add_option("--server", connection.server, "admin address host:port (default 127.0.0.1:8444)");
  app.add_option("--token_file", connection.token_file,
                 "file with the admin bearer token (else $COHORT_ADMIN_TOKEN)");
  app.add_flag("--tls", connection.tls,
               "TLS, verifying the server with the system's root certificates (needed off "
               "loopback)");
  app.add_option("--tls_ca", connection.tls_ca_file, "PEM CA to verify the server (enables TLS)");
  app.add_option("--client_cert", connection.client_cert_file, "PEM client certificate (mTLS)");
  app.add_option("--client_key", connection.client_key_file, "PEM client key (mTLS)");
  app.add_option("-o,--output", connection.output, "table (default), json, yaml or text");
  app.add_flag("--json", connection.json, "the same as -o json");

  std::string task_id, config_file, reason, out_path;
  int64_t count = 0;
  std::optional<int64_t> version;
  int32_t limit = 20;
  bool continuous = false;
  std::string model_file, format = "raw";
  bool evaluation_only = false;
  auto* create = app.add_subcommand("create-task", "create a task from a TaskConfig text proto");
  create->add_option("--config", config_file, "TaskConfig in protobuf text format")->required();
  create->add_option("--model", model_file,
                     "ONNX model file: the task's graph and initial weights (docs/models.md)");
  app.add_subcommand("list-tasks", "list every task");
  auto* status = app.add_subcommand("status", "show a task and its round in flight");
  auto* start = app.add_subcommand("start", "run more rounds");
  start->add_option("--count", count, "number of rounds");
  start->add_flag("--continuous", continuous, "run rounds until paused");
  start->add_flag("--evaluation_only", evaluation_only,
                  "rounds that evaluate the latest model on the devices without training");
  auto* pause = app.add_subcommand("pause", "open no new rounds");
  auto* resume = app.add_subcommand("resume", "resume a paused task");
  auto* abort = app.add_subcommand("abort", "fail the round in flight");
  abort->add_option("--reason", reason, "recorded as the failure reason");
  auto* rounds = app.add_subcommand("rounds", "list rounds with their metrics, newest first");
  rounds->add_option("--limit", limit, "how many (default 20)");
  auto* privacy = app.add_subcommand("privacy", "a DP task's epsilon spent, budget and rounds");
  privacy->add_option("--limit", limit, "rounds to list (default 20)");
  auto* watch = app.add_subcommand(
      "watch", "stream where the tasks stand, then their round events, until interrupted");
  std::string examples_file;
  auto* calibrate = app.add_subcommand(
      "attach-calibration", "attach representative inputs for int8 quantization of the model");
  calibrate->add_option("--examples", examples_file,
                        "little-endian float32 inputs, [n, input size] row-major (n <= 1000)")
      ->required();
  auto* download = app.add_subcommand("download-model", "save a model version's parameters");
  download->add_option("--version", version,
                       "model version, 0 = the initial model (default: latest)");
  download->add_option("--out", out_path, "output file")->required();
  download->add_option("--format", format,
                       "raw (little-endian float32 parameters) or onnx (an ONNX model file)")
      ->check(CLI::IsMember({"raw", "onnx"}));
  for (CLI::App* command :
       {status, start, pause, resume, abort, rounds, privacy, download, calibrate}) {
    command->add_option("--task", task_id, "task id")->required();
  }
  watch->add_option("--task", task_id, "task id (default: every task)");

  cohort::cli::AddVersionFlag(app, "cohortctl");
  if (std::optional<int> exit_code = cohort::cli::Parse(app, "cohortctl", argc, argv)) {
    return *exit_code;
  }
  if (start->parsed() && count <= 0 && !continuous) {
    std::cerr << "cohortctl: start needs --count=N (N >= 1) or --continuous\n";
    return kExitUsage;
  }

  absl::StatusOr<cohort::ctl::OutputFormat> output_format =
      connection.json ? cohort::ctl::OutputFormat::kJson
                      : cohort::ctl::ParseOutputFormat(connection.output);
  if (!output_format.ok()) {
    std::cerr << "cohortctl: " << output_format.status().message() << "\n";
    return kExitUsage;
  }
  connection.format = *output_format;

  std::string error;
  auto admin = Admin::Connect(connection, &error);
  if (admin == nullptr) {
    std::cerr << "cohortctl: " << error << "\n";
    return kExitUsage;
  }
  auto& stub = admin->stub();
  cohort::v1::Task task;
  if (create->parsed()) return CreateTask(*admin, config_file, model_file);
  if (app.got_subcommand("list-tasks")) {
    cohort::v1::ListTasksResponse response;
    return admin->Print(stub.ListTasks(admin->Context().get(), {}, &response), response);
  }
  if (status->parsed()) {
    cohort::v1::GetTaskRequest request;
    request.set_task_id(task_id);
    return admin->Print(stub.GetTask(admin->Context().get(), request, &task), task);
  }
  if (start->parsed()) {
    cohort::v1::StartRoundsRequest request;
    request.set_task_id(task_id);
    request.set_count(count);
    request.set_continuous(continuous);
    request.set_evaluation_only(evaluation_only);
    return admin->Print(stub.StartRounds(admin->Context().get(), request, &task), task);
  }
  if (pause->parsed()) {
    cohort::v1::PauseTaskRequest request;
    request.set_task_id(task_id);
    return admin->Print(stub.PauseTask(admin->Context().get(), request, &task), task);
  }
  if (resume->parsed()) {
    cohort::v1::ResumeTaskRequest request;
    request.set_task_id(task_id);
    return admin->Print(stub.ResumeTask(admin->Context().get(), request, &task), task);
  }
  if (abort->parsed()) {
    cohort::v1::AbortRoundRequest request;
    request.set_task_id(task_id);
    request.set_reason(reason.empty() ? "aborted by operator" : reason);
    return admin->Print(stub.AbortRound(admin->Context().get(), request, &task), task);
  }
  if (rounds->parsed()) {
    cohort::v1::ListRoundsRequest request;
    request.set_task_id(task_id);
    request.set_page_size(limit);
    cohort::v1::ListRoundsResponse response;
    return admin->Print(stub.ListRounds(admin->Context().get(), request, &response), response);
  }
  if (privacy->parsed()) return Privacy(*admin, task_id, limit);
  if (watch->parsed()) return Watch(*admin, task_id);
  if (calibrate->parsed()) {
    cohort::v1::AttachCalibrationDataRequest request;
    request.set_task_id(task_id);
    request.set_examples(ReadFileOrEmpty(examples_file));
    if (request.examples().empty()) {
      std::cerr << "cohortctl: --examples: cannot read '" << examples_file << "'\n";
      return kExitUsage;
    }
    cohort::v1::AttachCalibrationDataResponse response;
    return admin->Print(stub.AttachCalibrationData(admin->Context().get(), request, &response),
                        response);
  }
  if (download->parsed()) return DownloadModel(*admin, task_id, version, out_path, format);
  return kExitUsage;
}
