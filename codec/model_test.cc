#include "codec/model.h"

#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace cohort::codec {
namespace {

using cohort::v1::ModelLayout;

ModelLayout Layout(std::vector<std::pair<std::string, std::vector<int64_t>>> tensors) {
  ModelLayout layout;
  for (const auto& [name, shape] : tensors) {
    auto* t = layout.add_tensors();
    t->set_name(name);
    for (int64_t d : shape) t->add_shape(d);
    t->set_dtype(cohort::v1::DTYPE_FLOAT32);
  }
  return layout;
}

bool Contains(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST_CASE("ParameterCount_SumsTheShapeProductsWithScalarsAsOne") {
  auto count = ParameterCount(
      Layout({{"dense/kernel", {784, 64}}, {"dense/bias", {64}}, {"temperature", {}}}));
  REQUIRE(count.ok());
  CHECK(*count == 784 * 64 + 64 + 1);
}

TEST_CASE("ParameterCount_RefusesALayoutWithoutTensors") {
  auto count = ParameterCount(ModelLayout());
  REQUIRE(count.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(count.status(), "no tensors"));
}

TEST_CASE("ParameterCount_RefusesZeroAndNegativeDimensionsNamingTheTensor") {
  for (int64_t bad : {int64_t{0}, int64_t{-3}}) {
    auto count = ParameterCount(Layout({{"a", {2}}, {"conv/kernel", {3, bad}}}));
    INFO(count.status().ToString());
    REQUIRE(count.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(Contains(count.status(), "layout.tensors[1] 'conv/kernel' shape[1]"));
  }
}

TEST_CASE("ParameterCount_RefusesAShapeThatOverflowsNamingTheTensor") {
  const int64_t big = int64_t{1} << 31;
  auto count = ParameterCount(Layout({{"huge", {big, big, big}}}));
  INFO(count.status().ToString());
  REQUIRE(count.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(count.status(), "'huge'"));
  // Each tensor fits, the sum does not.
  auto total = ParameterCount(Layout({{"a", {int64_t{1} << 31, 2}}, {"b", {2}}}));
  CHECK(total.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ParameterCount_RefusesADtypeOtherThanFloat32") {
  ModelLayout layout = Layout({{"w", {2}}});
  layout.mutable_tensors(0)->set_dtype(static_cast<cohort::v1::DType>(7));
  CHECK(ParameterCount(layout).status().code() == absl::StatusCode::kInvalidArgument);
  layout.mutable_tensors(0)->set_dtype(cohort::v1::DTYPE_UNSPECIFIED);
  CHECK(ParameterCount(layout).ok());
}

std::string HexOf(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

TEST_CASE("Sha256_MatchesFips180ExamplesInFull") {
  // FIPS 180-2, Appendix B.1 and B.2 (one block, and a message that needs a second block for its
  // padding), and the digest of the empty message.
  CHECK(HexOf(Sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(HexOf(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(HexOf(Sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("MakeModel_SetsVersionLayoutAndChecksumAndRoundTrips") {
  const ModelLayout layout = Layout({{"w", {2, 2}}, {"bias", {1}}});
  const std::vector<float> values = {1.5f, -2.0f, 0.25f, 3.0f, -0.5f};
  auto model = MakeModel(layout, values, 7);
  REQUIRE(model.ok());
  CHECK(model->version() == 7);
  CHECK(model->parameters().size() == 20);
  CHECK(model->sha256() == Sha256(model->parameters()));
  CHECK(VerifyChecksum(*model).ok());
  auto back = ParametersOf(*model);
  REQUIRE(back.ok());
  CHECK(*back == values);
}

TEST_CASE("MakeModel_RefusesParametersOfTheWrongLength") {
  auto model = MakeModel(Layout({{"w", {3}}}), std::vector<float>{1, 2}, 0);
  CHECK(model.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ParametersOf_RefusesBytesThatDoNotMatchTheLayout") {
  auto model = MakeModel(Layout({{"w", {3}}}), std::vector<float>{1, 2, 3}, 0);
  REQUIRE(model.ok());
  model->mutable_parameters()->pop_back();
  auto params = ParametersOf(*model);
  REQUIRE(params.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(params.status(), "11 parameter bytes"));
}

TEST_CASE("VerifyChecksum_IsDataLossAfterOneFlippedBit") {
  auto model = MakeModel(Layout({{"w", {3}}}), std::vector<float>{1, 2, 3}, 4);
  REQUIRE(model.ok());
  (*model->mutable_parameters())[5] ^= 0x01;
  CHECK(VerifyChecksum(*model).code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("FloatsFromBytes_RefusesAPartialFloat") {
  CHECK(FloatsFromBytes(std::string(7, '\0')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(FloatsFromBytes("").ok());
}

cohort::v1::ModelInit Seed(uint64_t seed) {
  cohort::v1::ModelInit init;
  init.set_glorot_uniform_seed(seed);
  return init;
}

TEST_CASE("InitialModel_GlorotIsDeterministicPerSeed") {
  const ModelLayout layout = Layout({{"dense/kernel", {20, 10}}, {"dense/bias", {10}}});
  auto a = InitialModel(Seed(3), layout);
  auto b = InitialModel(Seed(3), layout);
  auto c = InitialModel(Seed(4), layout);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  CHECK(a->version() == 0);
  CHECK(a->parameters() == b->parameters());
  CHECK(a->sha256() == b->sha256());
  CHECK(a->parameters() != c->parameters());
  CHECK(VerifyChecksum(*a).ok());
}

TEST_CASE("InitialModel_GlorotMatchesPinnedValues") {
  // Pins the generator (SplitMix64, MixSeed, 53-bit doubles): these must not change with the
  // standard library or the compiler. Limit sqrt(6 / (3 + 2)).
  auto model = InitialModel(Seed(1), Layout({{"w", {3, 2}}}));
  REQUIRE(model.ok());
  auto values = ParametersOf(*model);
  REQUIRE(values.ok());
  CHECK((*values)[0] == 0.02019793726503849f);
  CHECK((*values)[1] == -0.07744713127613068f);
  CHECK((*values)[2] == -0.624226987361908f);
}

TEST_CASE("InitialModel_ZeroesBiasesAndScalarsAndKeepsKernelsWithinTheGlorotLimit") {
  const ModelLayout layout = Layout({{"h/kernel", {100, 50}},
                                     {"h/bias", {50}},
                                     {"scale", {}},
                                     {"v", {40}},
                                     {"conv/kernel", {3, 3, 8, 16}}});
  auto model = InitialModel(Seed(9), layout);
  REQUIRE(model.ok());
  auto values = ParametersOf(*model);
  REQUIRE(values.ok());
  size_t at = 0;
  auto check_uniform = [&](size_t n, double limit) {
    double sum_squares = 0;
    double most = 0;
    for (size_t i = at; i < at + n; ++i) {
      most = std::max(most, std::abs(double{(*values)[i]}));
      sum_squares += double{(*values)[i]} * (*values)[i];
    }
    at += n;
    CHECK(most <= limit);
    CHECK(most > 0.9 * limit);
    // U(-l, l) has variance l^2 / 3.
    CHECK(sum_squares / n == Approx(limit * limit / 3).epsilon(0.15));
  };
  check_uniform(5000, std::sqrt(6.0 / 150));
  for (size_t i = 0; i < 51; ++i) CHECK((*values)[at + i] == 0.0f);  // bias and scalar
  at += 51;
  check_uniform(40, std::sqrt(6.0 / 80));
  check_uniform(3 * 3 * 8 * 16, std::sqrt(6.0 / (9 * 8 + 9 * 16)));  // receptive field 9
  CHECK(at == values->size());
}

TEST_CASE("InitialModel_TakesExplicitParametersOfTheRightLengthOnly") {
  const ModelLayout layout = Layout({{"w", {2}}});
  cohort::v1::ModelInit init;
  init.set_parameters(FloatsToBytes(std::vector<float>{0.5f, -1.0f}));
  auto model = InitialModel(init, layout);
  REQUIRE(model.ok());
  CHECK(*ParametersOf(*model) == std::vector<float>{0.5f, -1.0f});
  CHECK(VerifyChecksum(*model).ok());
  init.set_parameters(std::string(12, '\0'));
  auto bad = InitialModel(init, layout);
  REQUIRE(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(bad.status(), "12 bytes"));
  CHECK(InitialModel(cohort::v1::ModelInit(), layout).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::codec
