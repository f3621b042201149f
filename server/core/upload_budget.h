#ifndef COHORT_SERVER_CORE_UPLOAD_BUDGET_H_
#define COHORT_SERVER_CORE_UPLOAD_BUDGET_H_

// The bytes of masked input the server may hold at once, over every round of every task.
//
//   UploadBudget budget(/*capacity_bytes=*/256 << 20);
//   if (!budget.TryReserve(input_bytes)) return RESOURCE_EXHAUSTED;   // device retries later
//   ... buffer the device's chunks, fold them into the sum ...
//   budget.Release(input_bytes);
//
// A device's chunks are buffered until its whole input has arrived and may be folded, so the
// server reserves a device's whole input when its first chunk arrives: a device that began
// uploading can always finish, and devices that cannot begin wait (no device holds half an
// input while another holds the rest of the budget). When nothing is reserved a reservation
// succeeds whatever its size, so one input larger than the budget still gets through, alone.
// Capacity 0 means no limit. Thread-safe: rounds of different tasks share one budget.

#include <atomic>
#include <cstdint>

namespace cohort::server {

class UploadBudget {
 public:
  explicit UploadBudget(int64_t capacity_bytes) : capacity_(capacity_bytes) {}
  UploadBudget(const UploadBudget&) = delete;
  UploadBudget& operator=(const UploadBudget&) = delete;

  // True (and reserved) if `bytes` fit beside what is reserved, or nothing is reserved.
  bool TryReserve(int64_t bytes);
  void Release(int64_t bytes);

  int64_t capacity() const { return capacity_; }
  int64_t reserved() const { return reserved_.load(std::memory_order_relaxed); }
  // Reservations refused so far.
  int64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }

 private:
  const int64_t capacity_;
  std::atomic<int64_t> reserved_{0};
  std::atomic<int64_t> refusals_{0};
};

}  // namespace cohort::server

#endif  // COHORT_SERVER_CORE_UPLOAD_BUDGET_H_
