#include "tests/client_sdk/memory_store.h"

#include "server/core/testing/fake_store.h"

namespace cohort::client::test_util {

std::unique_ptr<server::Store> NewMemoryStore() {
  return std::make_unique<server::test_util::FakeStore>();
}

}  // namespace cohort::client::test_util
