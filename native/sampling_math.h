// Vectorized helpers of the sampler (sampling_math.cpp).
#pragma once
#include <cstdint>

namespace azr {
// Largest entry of x[0..n), n >= 1.
float row_max(const float *x, int32_t n);
// out[i] = exp((x[i] - shift) * scale); returns the sum of out.
double exp_shifted(const float *x, int32_t n, float shift, float scale, float *out);
} // namespace azr
