#ifndef COHORT_CLIENT_SDK_INFERENCE_INSTANCE_POOL_H_
#define COHORT_CLIENT_SDK_INFERENCE_INSTANCE_POOL_H_

// A bounded pool of non-thread-safe objects (an XNNPACK operator set, an Eigen network) that
// lets concurrent callers each borrow one: an idle one is reused, a new one is made while fewer
// than `max_size` exist, and beyond that callers wait for one to come back.
//
//   COHORT_ASSIGN_OR_RETURN(auto lease, pool.Acquire());
//   lease->Run(...);   // returned to the pool when `lease` goes out of scope
//
// Codes: Acquire returns the factory's error when a new object cannot be made. Thread-safe.

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace cohort::inference {

template <typename T>
class InstancePool {
 public:
  using Factory = std::function<absl::StatusOr<std::unique_ptr<T>>()>;

  class Lease {
   public:
    Lease(InstancePool* pool, std::unique_ptr<T> item) : pool_(pool), item_(std::move(item)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (item_ != nullptr) pool_->Return(std::move(item_));
    }
    T* operator->() const { return item_.get(); }
    T& operator*() const { return *item_; }

   private:
    InstancePool* pool_;
    std::unique_ptr<T> item_;
  };

  // `first` is the object made (and so validated) at load; `max_size` >= 1.
  InstancePool(Factory factory, int max_size, std::unique_ptr<T> first)
      : factory_(std::move(factory)), max_size_(max_size < 1 ? 1 : max_size), created_(1) {
    idle_.push_back(std::move(first));
  }

  absl::StatusOr<Lease> Acquire() {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &InstancePool::CanProceed));
      if (!idle_.empty()) {
        std::unique_ptr<T> item = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(item));
      }
      ++created_;  // reserve the slot; made outside the lock (packing weights takes a while)
    }
    absl::StatusOr<std::unique_ptr<T>> made = factory_();
    if (!made.ok()) {
      absl::MutexLock lock(&mu_);
      --created_;
      return made.status();
    }
    return Lease(this, *std::move(made));
  }

  // Objects made so far (for tests and the benchmark).
  int size() const {
    absl::MutexLock lock(&mu_);
    return created_;
  }

 private:
  bool CanProceed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !idle_.empty() || created_ < max_size_;
  }

  void Return(std::unique_ptr<T> item) {
    absl::MutexLock lock(&mu_);
    idle_.push_back(std::move(item));
  }

  const Factory factory_;
  const int max_size_;
  mutable absl::Mutex mu_;
  int created_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<T>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cohort::inference

#endif  // COHORT_CLIENT_SDK_INFERENCE_INSTANCE_POOL_H_
