#include "tests/client_sdk/memory_store.h"

#include "server/store/in_memory_store.h"

namespace cohort::client::test_util {

std::unique_ptr<server::Store> NewMemoryStore() {
  return std::make_unique<server::InMemoryStore>();
}

}  // namespace cohort::client::test_util
