#ifndef COHORT_MODEL_ALIGNED_H_
#define COHORT_MODEL_ALIGNED_H_

// Buffers aligned to 64 bytes. Eigen's vectorized loops peel unaligned heads, so the order of a
// sum (and its last bits) would depend on where malloc put a buffer; with every buffer on a
// 64-byte boundary a pass gives the same bits every time, which a seeded trainer promises.

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace cohort::model {

template <typename T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::size_t kAlignment = 64;
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) {}  // NOLINT: allocator rebinding
  T* allocate(std::size_t n) {
    const std::size_t bytes = (n * sizeof(T) + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, bytes == 0 ? kAlignment : bytes);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) { std::free(p); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const AlignedAllocator<U>&) const { return false; }
};

template <typename T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace cohort::model

#endif  // COHORT_MODEL_ALIGNED_H_
