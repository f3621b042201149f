#include "secagg/plan_digest.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace cohort::secagg {
namespace {

class Encoder {
 public:
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void I32(int32_t v) { U32(static_cast<uint32_t>(v)); }
  void I64(int64_t v) {
    const uint64_t u = static_cast<uint64_t>(v);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
  void F64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof(bits));
    I64(static_cast<int64_t>(bits));
  }
  void Str(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    out_ += s;
  }
  void Duration(const google::protobuf::Duration& d) {
    I64(d.seconds());
    I32(d.nanos());
  }
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};

// A nested message as protobuf's deterministic serialization (fields in number order); empty when
// the message is unset or all defaults.
std::string Canonical(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

}  // namespace

std::string PlanDigest(const cohort::v1::RoundPlan& plan) {
  Encoder e;
  e.Str("cohort/secagg/v1 plan");
  e.Str(plan.task_id());
  e.I64(plan.round_number());
  e.Str(plan.round_id());
  e.I64(plan.model_version());
  e.U32(static_cast<uint32_t>(plan.layout().tensors_size()));
  for (const auto& t : plan.layout().tensors()) {
    e.Str(t.name());
    e.U32(static_cast<uint32_t>(t.shape_size()));
    for (int64_t d : t.shape()) e.I64(d);
    e.I32(t.dtype());
  }
  e.I64(plan.model_size_bytes());
  e.Str(plan.model_sha256());
  const auto& tr = plan.training();
  e.I32(tr.local_epochs());
  e.I32(tr.batch_size());
  e.F64(tr.learning_rate());
  std::vector<std::pair<std::string, double>> extra(tr.extra().begin(), tr.extra().end());
  std::sort(extra.begin(), extra.end());
  e.U32(static_cast<uint32_t>(extra.size()));
  for (const auto& [key, value] : extra) {
    e.Str(key);
    e.F64(value);
  }
  const auto& c = plan.codec();
  e.I32(c.encoding());
  e.F64(c.l2_clip_norm());
  e.F64(c.quantization_range());
  e.I32(c.bits());
  e.I32(c.max_example_weight());
  e.I32(c.modulus_bits());
  e.I64(c.vector_length());
  e.I64(c.chunk_elements());
  e.I32(c.metric_elements());
  e.U32(c.evaluation_only() ? 1 : 0);
  e.F64(c.max_eval_loss());
  e.Str(Canonical(c.dp()));
  const auto& s = plan.secagg();
  e.I32(s.num_participants());
  e.I32(s.neighbour_degree());
  e.I32(s.threshold());
  e.I32(s.threat_model());
  e.F64(s.dropout_rate());
  e.F64(s.corrupted_fraction());
  e.I32(s.security_bits());
  e.I32(s.correctness_bits());
  const auto& d = plan.deadlines();
  e.Duration(d.forming());
  e.Duration(d.advertise_keys());
  e.Duration(d.share_keys());
  e.Duration(d.masked_input());
  e.Duration(d.unmasking());
  e.Duration(d.consistency_check());
  e.Str(Canonical(plan.graph()));
  std::string out(kPlanDigestSize, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(e.bytes().data()), e.bytes().size(),
         reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

}  // namespace cohort::secagg
