#include "server/core/upload_budget.h"

namespace cohort::server {

bool UploadBudget::TryReserve(int64_t bytes) {
  int64_t current = reserved_.load(std::memory_order_relaxed);
  while (true) {
    if (capacity_ > 0 && current > 0 && current + bytes > capacity_) {
      refusals_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (reserved_.compare_exchange_weak(current, current + bytes, std::memory_order_relaxed)) {
      return true;
    }
  }
}

void UploadBudget::Release(int64_t bytes) {
  reserved_.fetch_sub(bytes, std::memory_order_relaxed);
}

}  // namespace cohort::server
