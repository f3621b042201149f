#ifndef COHORT_SECAGG_TESTING_TEST_CA_H_
#define COHORT_SECAGG_TESTING_TEST_CA_H_

// A throwaway operator CA for tests: an Ed25519 root certificate and device certificates it
// issues for devices' Ed25519 signing keys, made with OpenSSL's X.509 API.
//
//   COHORT_ASSIGN_OR_RETURN(TestCa ca, TestCa::Create(rng, now));
//   COHORT_ASSIGN_OR_RETURN(std::string der, ca.Issue(device_key.verifying_key(), now));
//   auto verifier = CertificateAuthorityVerifier::Create(ca.pem());

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "secagg/random_source.h"
#include "secagg/signing.h"

namespace cohort::secagg {

class TestCa {
 public:
  // A root valid from `now` - 1 day to `now` + 30 days.
  static absl::StatusOr<TestCa> Create(RandomSource& random, absl::Time now);
  const std::string& pem() const { return pem_; }
  // A DER device certificate for `device` valid over [not_before, not_after].
  absl::StatusOr<std::string> Issue(const VerifyingKey& device, absl::Time not_before,
                                    absl::Time not_after) const;
  absl::StatusOr<std::string> Issue(const VerifyingKey& device, absl::Time now) const {
    return Issue(device, now - absl::Hours(24), now + absl::Hours(24 * 30));
  }

 private:
  TestCa(SigningKey key, std::string pem) : key_(std::move(key)), pem_(std::move(pem)) {}
  SigningKey key_;
  std::string pem_;
};

}  // namespace cohort::secagg

#endif  // COHORT_SECAGG_TESTING_TEST_CA_H_
