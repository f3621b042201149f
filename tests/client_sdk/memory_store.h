#ifndef COHORT_TESTS_CLIENT_SDK_MEMORY_STORE_H_
#define COHORT_TESTS_CLIENT_SDK_MEMORY_STORE_H_

#include <memory>

#include "server/store/store.h"

namespace cohort::client::test_util {

// The server's embedded in-memory store, the one `cohort-server --store=memory` runs on.
std::unique_ptr<server::Store> NewMemoryStore();

}  // namespace cohort::client::test_util

#endif  // COHORT_TESTS_CLIENT_SDK_MEMORY_STORE_H_
