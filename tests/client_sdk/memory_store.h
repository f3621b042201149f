#ifndef COHORT_TESTS_CLIENT_SDK_MEMORY_STORE_H_
#define COHORT_TESTS_CLIENT_SDK_MEMORY_STORE_H_

#include <memory>

#include "server/store/store.h"

namespace cohort::client::test_util {

// The server's embedded in-memory store when it is built, else the core's FakeStore.
std::unique_ptr<server::Store> NewMemoryStore();

}  // namespace cohort::client::test_util

#endif  // COHORT_TESTS_CLIENT_SDK_MEMORY_STORE_H_
