#ifndef COHORT_CLIENT_SDK_SRC_INFERENCE_FETCH_H_
#define COHORT_CLIENT_SDK_SRC_INFERENCE_FETCH_H_

// Keeping the device's copy of the task's inference artifact current (docs/protocol.md,
// "Inference models"): one FetchInferenceModel call when nothing changed; otherwise a chunked
// download that survives the app being killed (the bytes so far and the artifact's SHA-256 are
// kept in <dir>/<format>.part*, and the next call resumes), verified against the artifact's
// SHA-256 before it replaces the cached file atomically (write, fsync, rename): until then the
// old artifact stays in place and is what the app keeps running. A download whose bytes do not
// match their checksum is discarded and fetched again (three times, then DATA_LOSS). Pace
// steering: after a retry-later answer, calls before the retry time return at once without
// calling the server.
//
// Files under `dir` (created if missing, mode 0700): float32.pb / int8.pb, the verified
// artifacts (serialized cohort.v1.InferenceModel), and their .part / .part.sha256.
//
// Codes: the server's status for a refused call (NOT_FOUND unknown population or task,
// FAILED_PRECONDITION no artifact of that format yet); UNAVAILABLE / DEADLINE_EXCEEDED for an
// unreachable server; DATA_LOSS for repeated corruption or an answer that breaks the protocol;
// the errno-derived code for a disk error. This class is not thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "client_sdk/src/transport.h"
#include "cohort/client/client.h"
#include "cohort/v1/inference.pb.h"

namespace cohort::client::internal {

struct InferenceFetchOptions {
  std::string dir;
  std::string population;
  std::function<std::string()> device_id;
  std::string sdk_version;
  int64_t chunk_bytes = 256 << 10;
  Clock* clock = nullptr;
  // Uniform in [0, 1), for the retry time inside the server's window.
  std::function<double()> uniform01;
};

class InferenceFetcher {
 public:
  InferenceFetcher(Transport* transport, InferenceFetchOptions options);

  absl::StatusOr<InferenceModelUpdate> Update(v1::InferenceFormat format,
                                              const std::string& task_id);
  // The path of the verified artifact of `format` (it may not exist yet).
  std::string CachedPath(v1::InferenceFormat format) const;

 private:
  absl::StatusOr<InferenceModelUpdate> Download(v1::InferenceFormat format,
                                                const std::string& task_id,
                                                const std::string& held_sha256,
                                                int64_t held_version);

  Transport* const transport_;
  const InferenceFetchOptions options_;
  std::map<int, absl::Time> retry_at_;  // by format
};

}  // namespace cohort::client::internal

#endif  // COHORT_CLIENT_SDK_SRC_INFERENCE_FETCH_H_
