#ifndef COHORT_FUZZ_FUZZ_INPUT_H_
#define COHORT_FUZZ_FUZZ_INPUT_H_

// A byte cursor for fuzzers whose seeds are written by hand (or by the fuzzer's --write-seeds):
// fields are read front to back, so a seed is just the concatenation of what it says. Reads
// past the end give zeros / empty strings.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cohort::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::string Bytes(size_t n) {
    if (n > size_ - pos_) n = size_ - pos_;
    std::string out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }
  // A length byte, then that many bytes.
  std::string Sized() { return Bytes(U8()); }
  // Little endian; missing bytes are zero.
  uint64_t U64(size_t bytes = 8) {
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) v |= uint64_t{U8()} << (8 * i);
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// The writer the seeds are made with.
class Output {
 public:
  Output& U8(uint8_t v) {
    bytes_.push_back(static_cast<char>(v));
    return *this;
  }
  Output& U64(uint64_t v, size_t bytes = 8) {
    for (size_t i = 0; i < bytes; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  // At most 255 bytes of `s`, as Input::Sized reads them.
  Output& Sized(const std::string& s) {
    const size_t n = s.size() < 255 ? s.size() : 255;
    U8(static_cast<uint8_t>(n));
    bytes_ += s.substr(0, n);
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Handles `fuzzer --write-seeds DIR` (writes `seeds` as DIR/seed_<i> and exits); call from
// LLVMFuzzerInitialize.
void MaybeWriteSeeds(int argc, char** argv, const std::vector<std::string>& seeds);

}  // namespace cohort::fuzz

#endif  // COHORT_FUZZ_FUZZ_INPUT_H_
