// The per-token hot loops of sampling over a whole vocabulary row, in their
// own translation unit so they can be compiled for vectorization (see
// CMakeLists.txt: -O3 -ffast-math here only, which lets the compiler use the
// vector expf of glibc's libmvec). Results are deterministic for a given
// binary; they differ from a scalar loop only in the last bits of the sum.
#include "sampling_math.h"

#include <cmath>

namespace azr {

float row_max(const float *x, int32_t n) {
    float m = x[0];
    for (int32_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

double exp_shifted(const float *x, int32_t n, float shift, float scale, float *out) {
    // A plain loop with a float reduction: under -ffast-math the compiler
    // turns it into vector expf calls with vector partial sums.
    float sum = 0.0f;
    for (int32_t i = 0; i < n; i++) {
        float e = expf((x[i] - shift) * scale);
        out[i] = e;
        sum += e;
    }
    return sum;
}

} // namespace azr
