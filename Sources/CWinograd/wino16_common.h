// Sizes shared by the 16-channel-block Winograd kernels (wino16_body.h, built
// twice: AVX-512F and a 16-wide emulation on AVX2 + FMA) and by their
// dispatcher in winograd.c. Private to CWinograd.
#ifndef MTRNN_WINO16_COMMON_H
#define MTRNN_WINO16_COMMON_H
#include <stddef.h>

// The GEMM micro-kernel: 12 tiles (rows) x 32 output channels (two vectors
// of 16): 24 accumulators of the 32 zmm registers, plus two rows of weights
// and a broadcast.
#define W16_MR 12
#define W16_NR 32
// Floats between positions in V and M (one cache line, as in winograd.c).
#define W16_PAD 16

static inline int w16_positions(int m) { return (m + 2) * (m + 2); }

// Tiles per group: 12 or 24, so that a group's transformed data (positions x
// tiles x (cin + cout) floats) stays in L2: 440 KB at 12 x 128 + 128 for
// F(4,3) against Zen 5's 1 MB. Not tuned: no AVX-512 machine has run it yet.
static inline int w16_group_tiles(int m, int cin, int cout) {
    if (m == 6) return cin + cout <= 64 ? 2 * W16_MR : W16_MR;
    if (m == 2) return cin + cout <= 256 ? 2 * W16_MR : W16_MR;
    return cin + cout <= 128 ? 2 * W16_MR : W16_MR;
}

static inline size_t w16_pstride(int group, int channels) { return (size_t)group * channels + W16_PAD; }

// The transposed convolutions' F(3,2) (16 positions; cout4 = 4 x cout): as
// winograd.c's up_group_tiles, in MRs of 12. Not tuned.
static inline int w16_up_group_tiles(int cin, int cout4) { return cin + cout4 <= 256 ? 2 * W16_MR : W16_MR; }

static inline size_t w16_up_scratch_floats(int cin, int cout) {
    const int group = w16_up_group_tiles(cin, 4 * cout);
    return 16 * (w16_pstride(group, cin) + w16_pstride(group, 4 * cout));
}

static inline size_t w16_scratch_floats(int m, int cin, int cout) {
    const int group = w16_group_tiles(m, cin, cout);
    return w16_positions(m) * (w16_pstride(group, cin) + w16_pstride(group, cout));
}
#endif
