#include "client_sdk/inference/im2col.h"

#include <cstring>


namespace cohort::inference {

namespace {

// Runs are a few bytes (a kernel row of a grey image: 5), where a memcpy call of variable size
// costs more than the copy. Whole 8-byte words instead: the last may read and write up to 7
// bytes past the run, which the caller's slack covers and the next run overwrites.
inline void Copy(const int8_t* from, int64_t n, int8_t* to) {
  for (int64_t i = 0; i < n; i += 8) std::memcpy(to + i, from + i, 8);
}
inline void Fill(int8_t value, int64_t n, int8_t* to) {
  std::memset(to, value, static_cast<size_t>(n));
}

}  // namespace

void Im2Col(const int8_t* in, int64_t batch, int64_t h, int64_t w, int64_t c,
            const model::Window& window, int64_t out_h, int64_t out_w, int8_t pad, int8_t* out) {
  // Locals, not window's fields: stores through int8_t* may alias anything, and would force the
  // compiler to reload them at every byte.
  const int64_t kh = window.kernel_h, kw = window.kernel_w;
  const int64_t sh = window.stride_h, sw = window.stride_w;
  const int64_t top = window.pad_top, left = window.pad_left;
  const int64_t run = kw * c;  // one kernel row: contiguous in NHWC when inside the input
  for (int64_t b = 0; b < batch; ++b) {
    const int8_t* image = in + b * h * w * c;
    for (int64_t oy = 0; oy < out_h; ++oy) {
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const int64_t x0 = ox * sw - left;
        const bool row_inside = x0 >= 0 && x0 + kw <= w;
        for (int64_t ky = 0; ky < kh; ++ky, out += run) {
          const int64_t y = oy * sh - top + ky;
          if (y < 0 || y >= h) {
            Fill(pad, run, out);
          } else if (row_inside) {
            Copy(image + (y * w + x0) * c, run, out);
          } else {
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t x = x0 + kx;
              if (x < 0 || x >= w) {
                Fill(pad, c, out + kx * c);
              } else {
                Copy(image + (y * w + x) * c, c, out + kx * c);
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace cohort::inference
