// Winograd F(4x4, 3x3), F(6x6, 3x3) and F(2x2, 3x3) for the ResBlock
// convolutions of MT-RNN on AVX2 + FMA (`m`, the output tile's side,
// chooses: 4, 6 or 2; F(2,3), 2.25x fewer multiply-adds than direct, has the
// smallest rounding error, for a low-precision GEMM: WINO_BF16_GEMM).
//
// Why: oneDNN 2.6.3 has Winograd only for AVX-512; on AVX2 its direct 3x3
// convolution needs 9 multiply-adds per output per input channel, F(4,3)
// needs 36/16 = 2.25 (4x fewer), plus transforms that cost O(C) per pixel
// against the GEMM's O(C^2).
//
// Scheme (per group of 6-12 tiles, whose transformed data stays in L2):
//   input transform  V[p][t][cin]  = B^T d_t B        (36 or 64 positions p)
//   36 or 64 GEMMs   M[p][t][cout] = V[p] x U[p]      (U transformed once)
//   output transform y_t = A^T M_t A + bias, then LeakyReLU or += into dst.
// V and M are stored channel-blocked, [p][c / 8][t][8], so that each
// transform writes or reads 36 (64) sequential streams, one per p.
// F(6,3) needs 64/36 = 1.78 multiply-adds per output and channel pair
// against F(4,3)'s 2.25, at a larger rounding error (BENCHMARKS.md).
// nChw8c makes one AVX2 vector = 8 channels of one pixel, so every transform
// is plain vector arithmetic over 8 channels at a time.
#include "winograd.h"
#include "wino16_common.h"
#include "round_bf16.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))

// Rows of the GEMM micro-kernel (tiles) and its columns (output channels).
#define MR 6
#ifndef PREFETCH_PIXELS
#define PREFETCH_PIXELS 16
#endif
#define NR 16

int wino_cpu_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// Input tile side (alpha) and positions (alpha^2) of F(m, 3).
static int alpha_of(int m) { return m + 2; }
static int positions(int m) { return (m + 2) * (m + 2); }

size_t wino_weights_floats(int m, int cin, int cout) { return (size_t)positions(m) * cin * cout; }

// Tiles per group. Small groups won on Zen 3 (BENCHMARKS.md): 6 or 12
// tiles keep a group's transformed data (36 x tiles x (cin + cout) floats,
// 110 KB at 12 x 64 or 6 x 256) well inside L2, next to the weights'
// panels (up to 64 KB per position at 128 channels), which stream from
// L2/L3 well enough; groups of 24-96 tiles were 10-30 % slower (noisy runs).
// F(6,3) has 64 positions (1.8x the scratch per tile), so it halves the
// group one size earlier.
static int group_tiles(int m, int cin, int cout) {
#ifdef WINO_GROUP_TILES
    return WINO_GROUP_TILES;
#endif
    if (m == 6) return cin + cout <= 64 ? 2 * MR : MR;
    if (m == 2) return cin + cout <= 256 ? 2 * MR : MR;  // 16 positions: not tuned
    return cin + cout <= 128 ? 2 * MR : MR;
}

// Floats between positions p in V and M: the data plus one cache line, so
// that the 36 streams an input or output transform touches fall into
// different L1 sets (without it, 12 x 32 floats = 24 lines apart put all
// 36 streams into 8 of the 64 sets).
#define PAD_FLOATS 16
static size_t pstride(int group, int channels) { return (size_t)group * channels + PAD_FLOATS; }

size_t wino_scratch_floats(int m, int cin, int cout) {
    const int group = group_tiles(m, cin, cout);
    return positions(m) * (pstride(group, cin) + pstride(group, cout));
}

int wino_tile_count(int m, int height, int width) { return ((height + m - 1) / m) * ((width + m - 1) / m); }

// U = G g G^T in double, stored as u[p][cout/nr][cin][nr]: the kernel reads
// one nr-wide row per input channel, contiguous along k (nr: its columns,
// NR here, W16_NR for wino16_conv3x3).
static void transform_weights(int m, const float *w, int cin, int cout, int nr, float *u) {
    static const double G4[6][3] = {
        {1.0 / 4, 0, 0},
        {-1.0 / 6, -1.0 / 6, -1.0 / 6},
        {-1.0 / 6, 1.0 / 6, -1.0 / 6},
        {1.0 / 24, 1.0 / 12, 1.0 / 6},
        {1.0 / 24, -1.0 / 12, 1.0 / 6},
        {0, 0, 1},
    };
    // F(6,3), points 0, +-1, +-2, +-1/2 and infinity (the B^T and A^T of
    // bt8 and at8 below).
    static const double G6[8][3] = {
        {1, 0, 0},
        {-2.0 / 9, -2.0 / 9, -2.0 / 9},
        {-2.0 / 9, 2.0 / 9, -2.0 / 9},
        {1.0 / 90, 1.0 / 45, 2.0 / 45},
        {1.0 / 90, -1.0 / 45, 2.0 / 45},
        {32.0 / 45, 16.0 / 45, 8.0 / 45},
        {32.0 / 45, -16.0 / 45, 8.0 / 45},
        {0, 0, 1},
    };
    // F(2,3), points 0, +-1, infinity (bt4 and at2 below).
    static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    const int n = alpha_of(m);
    const double (*G)[3] = m == 6 ? G6 : m == 2 ? G2 : G4;
    const int panels = cout / nr;
    for (int o = 0; o < cout; o++) {
        for (int i = 0; i < cin; i++) {
            const float *g = w + ((size_t)o * cin + i) * 9;
            double t[8][3];
            for (int a = 0; a < n; a++)
                for (int l = 0; l < 3; l++)
                    t[a][l] = G[a][0] * g[0 * 3 + l] + G[a][1] * g[1 * 3 + l] + G[a][2] * g[2 * 3 + l];
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n; b++) {
                    double v = t[a][0] * G[b][0] + t[a][1] * G[b][1] + t[a][2] * G[b][2];
                    int p = a * n + b;
                    u[(((size_t)p * panels + o / nr) * cin + i) * nr + o % nr] = (float)v;
                }
        }
    }
}

void wino_transform_weights(int m, const float *w, int cin, int cout, float *u) {
    transform_weights(m, w, cin, cout, NR, u);
}

void wino_round_bf16(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned bits;
        __builtin_memcpy(&bits, &x[i], 4);
        bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;  // finite values: all the network makes
        __builtin_memcpy(&x[i], &bits, 4);
    }
}

// The nChw16c kernels (wino16_body.h, built in wino16_avx512.c and wino16_emu.c).
void wino16_conv3x3_avx512(int m, const float *src, float *dst, const float *u, const float *bias, int cin, int cout,
                           int height, int width, int mode, int tile_begin, int tile_end, float *scratch);
void wino16_conv3x3_emu(int m, const float *src, float *dst, const float *u, const float *bias, int cin, int cout,
                        int height, int width, int mode, int tile_begin, int tile_end, float *scratch);

int wino16_avx512_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

void wino16_transform_weights(int m, const float *w, int cin, int cout, float *u) {
    transform_weights(m, w, cin, cout, W16_NR, u);
}

size_t wino16_scratch_floats(int m, int cin, int cout) { return w16_scratch_floats(m, cin, cout); }

int wino16_conv3x3(int variant, int m, const float *src, float *dst, const float *u, const float *bias,
                   int cin, int cout, int height, int width, int mode, int tile_begin, int tile_end, float *scratch) {
    if (variant == WINO16_AUTO) variant = wino16_avx512_supported() ? WINO16_AVX512 : WINO16_EMULATED;
    if (variant == WINO16_AVX512 && wino16_avx512_supported())
        wino16_conv3x3_avx512(m, src, dst, u, bias, cin, cout, height, width, mode, tile_begin, tile_end, scratch);
    else if (variant == WINO16_EMULATED && wino_cpu_supported())
        wino16_conv3x3_emu(m, src, dst, u, bias, cin, cout, height, width, mode, tile_begin, tile_end, scratch);
    else
        return -1;
    return 0;
}

// B^T x for 4 values (F(2,3), points 0, +-1, infinity; also the transposed
// convolutions' F(3,2), whose B^T is the same).
TARGET static inline void bt4(const __m256 x[4], __m256 y[4]) {
    y[0] = _mm256_sub_ps(x[0], x[2]);
    y[1] = _mm256_add_ps(x[1], x[2]);
    y[2] = _mm256_sub_ps(x[2], x[1]);
    y[3] = _mm256_sub_ps(x[3], x[1]);
}

// A^T m for 4 values -> 2 (F(2,3); rows (1 1 1 0), (0 1 -1 1), as bt4 has x3 - x1
// where the usual B^T has x1 - x3).
TARGET static inline void at2(const __m256 m[4], __m256 y[2]) {
    y[0] = _mm256_add_ps(_mm256_add_ps(m[0], m[1]), m[2]);
    y[1] = _mm256_add_ps(_mm256_sub_ps(m[1], m[2]), m[3]);  // + m3: bt4's last row is x3 - x1
}

// B^T x for 6 values (F(4,3) with points 0, +-1, +-2).
TARGET static inline void bt6(const __m256 x[6], __m256 y[6]) {
    const __m256 four = _mm256_set1_ps(4.0f), five = _mm256_set1_ps(5.0f), two = _mm256_set1_ps(2.0f);
    __m256 a = _mm256_fnmadd_ps(four, x[2], x[4]);           // x4 - 4 x2
    __m256 b = _mm256_fnmadd_ps(four, x[1], x[3]);           // x3 - 4 x1
    __m256 c = _mm256_sub_ps(x[4], x[2]);                    // x4 - x2
    __m256 d = _mm256_mul_ps(two, _mm256_sub_ps(x[3], x[1])); // 2 (x3 - x1)
    y[0] = _mm256_fmadd_ps(four, x[0], _mm256_fnmadd_ps(five, x[2], x[4]));
    y[1] = _mm256_add_ps(a, b);
    y[2] = _mm256_sub_ps(a, b);
    y[3] = _mm256_add_ps(c, d);
    y[4] = _mm256_sub_ps(c, d);
    y[5] = _mm256_fmadd_ps(four, x[1], _mm256_fnmadd_ps(five, x[3], x[5]));
}

// A^T m for 6 values -> 4.
TARGET static inline void at6(const __m256 m[6], __m256 y[4]) {
    const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f), eight = _mm256_set1_ps(8.0f);
    __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
    __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
    y[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), s34);
    y[1] = _mm256_fmadd_ps(two, d34, d12);
    y[2] = _mm256_fmadd_ps(four, s34, s12);
    y[3] = _mm256_add_ps(_mm256_fmadd_ps(eight, d34, d12), m[5]);
}

// B^T x for 8 values (F(6,3): rows for the points 0, +-1, +-1/2 (as 2,
// 1/2 pairs), +-2, infinity; checked against direct in WinogradTests).
TARGET static inline void bt8(const __m256 x[8], __m256 y[8]) {
    const __m256 c525 = _mm256_set1_ps(5.25f), c425 = _mm256_set1_ps(4.25f), c25 = _mm256_set1_ps(2.5f),
                 c125 = _mm256_set1_ps(1.25f), c05 = _mm256_set1_ps(0.5f), c025 = _mm256_set1_ps(0.25f),
                 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f);
    y[0] = _mm256_fmadd_ps(c525, _mm256_sub_ps(x[4], x[2]), _mm256_sub_ps(x[0], x[6]));
    y[7] = _mm256_fmadd_ps(c525, _mm256_sub_ps(x[3], x[5]), _mm256_sub_ps(x[7], x[1]));
    __m256 t1 = _mm256_fnmadd_ps(c425, x[4], _mm256_add_ps(x[2], x[6]));   // x2 + x6 - 4.25 x4
    __m256 t2 = _mm256_fnmadd_ps(c425, x[3], _mm256_add_ps(x[1], x[5]));   // x1 + x5 - 4.25 x3
    y[1] = _mm256_add_ps(t1, t2);
    y[2] = _mm256_sub_ps(t1, t2);
    t1 = _mm256_fmadd_ps(c025, x[2], _mm256_fnmadd_ps(c125, x[4], x[6]));  // x6 + 0.25 x2 - 1.25 x4
    t2 = _mm256_fmadd_ps(c05, x[1], _mm256_fmsub_ps(two, x[5], _mm256_mul_ps(c25, x[3])));  // 0.5 x1 - 2.5 x3 + 2 x5
    y[3] = _mm256_add_ps(t1, t2);
    y[4] = _mm256_sub_ps(t1, t2);
    t1 = _mm256_fmadd_ps(four, _mm256_fnmadd_ps(c125, x[4], x[2]), x[6]);  // x6 + 4 (x2 - 1.25 x4)
    t2 = _mm256_fmadd_ps(two, x[1], _mm256_fmsub_ps(c05, x[5], _mm256_mul_ps(c25, x[3])));  // 2 x1 - 2.5 x3 + 0.5 x5
    y[5] = _mm256_add_ps(t1, t2);
    y[6] = _mm256_sub_ps(t1, t2);
}

// A^T m for 8 values -> 6.
TARGET static inline void at8(const __m256 m[8], __m256 y[6]) {
    const __m256 two = _mm256_set1_ps(2.0f), four = _mm256_set1_ps(4.0f), eight = _mm256_set1_ps(8.0f),
                 c16 = _mm256_set1_ps(16.0f), c32 = _mm256_set1_ps(32.0f), c05 = _mm256_set1_ps(0.5f),
                 c025 = _mm256_set1_ps(0.25f), c0125 = _mm256_set1_ps(0.125f), c00625 = _mm256_set1_ps(0.0625f),
                 c003125 = _mm256_set1_ps(0.03125f);
    __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
    __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
    __m256 s56 = _mm256_add_ps(m[5], m[6]), d56 = _mm256_sub_ps(m[5], m[6]);
    y[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), _mm256_add_ps(s34, s56));
    y[1] = _mm256_fmadd_ps(c05, d56, _mm256_fmadd_ps(two, d34, d12));
    y[2] = _mm256_fmadd_ps(c025, s56, _mm256_fmadd_ps(four, s34, s12));
    y[3] = _mm256_fmadd_ps(c0125, d56, _mm256_fmadd_ps(eight, d34, d12));
    y[4] = _mm256_fmadd_ps(c00625, s56, _mm256_fmadd_ps(c16, s34, s12));
    y[5] = _mm256_add_ps(_mm256_fmadd_ps(c003125, d56, _mm256_fmadd_ps(c32, d34, d12)), m[7]);
}

// The tile transforms of F(m, 3), written once for both m: A = m + 2 is
// the input tile's side, BT and AT the one-dimensional transforms above
// (bt6/at6 for F(4,3), bt8/at8 for F(6,3)). Macros rather than a function
// with a parameter, so that each instance has constant sizes for the
// unrolling that keeps all but t in registers.
#define DO_PRAGMA(x) _Pragma(#x)
#define UNROLL(n) DO_PRAGMA(GCC unroll n)

// One A x A tile, one block of 8 input channels: v[p * pstride] for the A^2
// positions p. Each row goes from memory through BT into t, stored
// transposed (t[b][i]) so that the second pass reads its columns as they
// lie; the loops are unrolled so that only t passes through the stack
// (A^2 vectors would not fit the 16 registers anyway). The next tiles along
// x are prefetched (two lines each); past a row's end that only touches the
// next row, which is harmless.
#define DEFINE_INPUT_TILE(NAME, A, BT)                                                                              \
TARGET static void NAME(const float *src, int height, int width, int y0, int x0, float *v, size_t pstride,         \
                        int bf16) {                                                                                 \
    __m256 t[A][A];                                                                                                 \
    if (y0 >= 0 && x0 >= 0 && y0 + A <= height && x0 + A <= width) {                                               \
        UNROLL(A)                                                                                                   \
        for (int i = 0; i < A; i++) {                                                                               \
            const float *row = src + ((size_t)(y0 + i) * width + x0) * 8;                                           \
            _mm_prefetch((const char *)(row + PREFETCH_PIXELS * 8), _MM_HINT_T0);                                   \
            _mm_prefetch((const char *)(row + PREFETCH_PIXELS * 8 + 16), _MM_HINT_T0);                              \
            __m256 x[A], r[A];                                                                                      \
            UNROLL(A)                                                                                               \
            for (int j = 0; j < A; j++) x[j] = _mm256_load_ps(row + j * 8);                                         \
            BT(x, r);                                  /* along x */                                               \
            UNROLL(A)                                                                                               \
            for (int b = 0; b < A; b++) t[b][i] = r[b];                                                             \
        }                                                                                                           \
    } else {                                                                                                        \
        /* Image border: the zero padding, and rows/columns past the edge. */                                      \
        const int jlo = x0 < 0 ? -x0 : 0, jhi = width - x0 < A ? width - x0 : A;                                    \
        for (int i = 0; i < A; i++) {                                                                               \
            const int y = y0 + i;                                                                                   \
            __m256 x[A], r[A];                                                                                      \
            for (int j = 0; j < A; j++) x[j] = _mm256_setzero_ps();                                                 \
            if (y >= 0 && y < height) {                                                                             \
                const float *row = src + ((size_t)y * width + x0) * 8;                                              \
                for (int j = jlo; j < jhi; j++) x[j] = _mm256_load_ps(row + j * 8);                                 \
            }                                                                                                       \
            BT(x, r);                                                                                               \
            for (int b = 0; b < A; b++) t[b][i] = r[b];                                                             \
        }                                                                                                           \
    }                                                                                                               \
    UNROLL(A)                                                                                                       \
    for (int b = 0; b < A; b++) {                                                                                   \
        __m256 r[A];                                                                                                \
        BT(t[b], r);                                   /* along y */                                               \
        UNROLL(A)                                                                                                   \
        for (int a = 0; a < A; a++)                                                                                 \
            _mm256_store_ps(v + (size_t)(a * A + b) * pstride, bf16 ? round_bf16_avx2(r[a]) : r[a]);                     \
    }                                                                                                               \
}

// One M x M output tile (M = A - 2), one block of 8 output channels: A^T m A
// (through AT along x into s, stored transposed like t above, then along y),
// + bias, then LeakyReLU (slope 0.1) or += into dst, clipped at the edges.
#define DEFINE_OUTPUT_TILE(NAME, A, M, AT)                                                                          \
TARGET static void NAME(const float *m, size_t pstride, float *dst, int height, int width, int y0, int x0,          \
                        __m256 bias, int mode) {                                                                    \
    __m256 s[M][A], y[M][M];                                                                                        \
    UNROLL(A)                                                                                                       \
    for (int a = 0; a < A; a++) {                                                                                   \
        __m256 row[A], r[M];                                                                                        \
        UNROLL(A)                                                                                                   \
        for (int b = 0; b < A; b++) row[b] = _mm256_load_ps(m + (size_t)(a * A + b) * pstride);                     \
        AT(row, r);                                    /* along x */                                               \
        UNROLL(M)                                                                                                   \
        for (int c = 0; c < M; c++) s[c][a] = r[c];                                                                 \
    }                                                                                                               \
    UNROLL(M)                                                                                                       \
    for (int c = 0; c < M; c++) {                                                                                   \
        __m256 r[M];                                                                                                \
        AT(s[c], r);                                   /* along y */                                               \
        UNROLL(M)                                                                                                   \
        for (int q = 0; q < M; q++) y[q][c] = r[q];                                                                 \
    }                                                                                                               \
    const __m256 slope = _mm256_set1_ps(0.1f);                                                                      \
    const int rows = height - y0 < M ? height - y0 : M, cols = width - x0 < M ? width - x0 : M;                     \
    for (int q = 0; q < rows; q++) {                                                                                \
        float *out = dst + ((size_t)(y0 + q) * width + x0) * 8;                                                     \
        _mm_prefetch((const char *)(out + PREFETCH_PIXELS * 8), _MM_HINT_T0);                                       \
        _mm_prefetch((const char *)(out + PREFETCH_PIXELS * 8 + 16), _MM_HINT_T0);                                  \
        for (int c = 0; c < cols; c++) {                                                                            \
            __m256 v = _mm256_add_ps(y[q][c], bias);                                                                \
            if (mode == WINO_LEAKY_RELU) {                                                                          \
                v = _mm256_max_ps(v, _mm256_mul_ps(slope, v));   /* slope < 1: max(v, 0.1 v) */                    \
            } else {                                                                                                \
                v = _mm256_add_ps(v, _mm256_load_ps(out + c * 8));                                                  \
            }                                                                                                       \
            _mm256_store_ps(out + c * 8, v);                                                                        \
        }                                                                                                           \
    }                                                                                                               \
}

DEFINE_INPUT_TILE(input_tile, 6, bt6)            // F(4,3)
DEFINE_OUTPUT_TILE(output_tile, 6, 4, at6)
DEFINE_INPUT_TILE(input_tile8, 8, bt8)           // F(6,3)
DEFINE_OUTPUT_TILE(output_tile8, 8, 6, at8)
DEFINE_INPUT_TILE(input_tile_f23, 4, bt4)        // F(2,3)
DEFINE_OUTPUT_TILE(output_tile2, 4, 2, at2)

// c[MR][NR] = a[MR][k] x b[k][NR], k whole (<= a few hundred): the sums
// stay in 12 registers and are written once. a and c are channel-blocked
// like the transforms' data: element (i, l) of a is at a[(l / 8) * ablock +
// i * 8 + l % 8]; columns 0-7 of c row i at c[i * 8], 8-15 at c[cblock + i * 8].
TARGET static void kernel_6x16(const float *a, size_t ablock, const float *b, int k, float *c, size_t cblock) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int lb = 0; lb < k; lb += 8, a += ablock) {
        for (int l = 0; l < 8; l++) {
            __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
            __m256 x;
            x = _mm256_broadcast_ss(a + 0 * 8 + l); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
            x = _mm256_broadcast_ss(a + 1 * 8 + l); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
            x = _mm256_broadcast_ss(a + 2 * 8 + l); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
            x = _mm256_broadcast_ss(a + 3 * 8 + l); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
            x = _mm256_broadcast_ss(a + 4 * 8 + l); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
            x = _mm256_broadcast_ss(a + 5 * 8 + l); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
            b += NR;
        }
    }
    float *d = c + cblock;
    _mm256_store_ps(c + 0 * 8, c00); _mm256_store_ps(d + 0 * 8, c01);
    _mm256_store_ps(c + 1 * 8, c10); _mm256_store_ps(d + 1 * 8, c11);
    _mm256_store_ps(c + 2 * 8, c20); _mm256_store_ps(d + 2 * 8, c21);
    _mm256_store_ps(c + 3 * 8, c30); _mm256_store_ps(d + 3 * 8, c31);
    _mm256_store_ps(c + 4 * 8, c40); _mm256_store_ps(d + 4 * 8, c41);
    _mm256_store_ps(c + 5 * 8, c50); _mm256_store_ps(d + 5 * 8, c51);
}

TARGET void wino_conv3x3(int mt, const float *src, float *dst, const float *u, const float *bias,
                         int cin, int cout, int height, int width, int mode,
                         int tile_begin, int tile_end, float *scratch) {
    const int bf16 = (mode & WINO_BF16_GEMM) != 0;
    mode &= ~WINO_BF16_GEMM;
    const int group = group_tiles(mt, cin, cout);
    const int npos = positions(mt);
    const int tiles_w = (width + mt - 1) / mt;
    const size_t plane = (size_t)height * width * 8;  // one channel block
    const size_t vstride = pstride(group, cin), mstride = pstride(group, cout);
    float *v = scratch, *m = scratch + npos * vstride;
    const int panels = cout / NR;

    for (int t0 = tile_begin; t0 < tile_end; t0 += group) {
        const int n = tile_end - t0 < group ? tile_end - t0 : group;
        const int rows = (n + MR - 1) / MR * MR;
        // Rows past n (up to the next MR) hold stale but finite values
        // from the previous group (or zeros): computed, never written out.
        // Channel block outer: each block is its own H x W x 8 plane, so the
        // tiles of a group then walk 6 rows forward, which the prefetchers follow.
        for (int cb = 0; cb < cin / 8; cb++)
            for (int t = 0; t < n; t++) {
                const int ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
                float *vt = v + ((size_t)cb * group + t) * 8;
                if (mt == 6)
                    input_tile8(src + cb * plane, height, width, 6 * ty - 1, 6 * tx - 1, vt, vstride, bf16);
                else if (mt == 2)
                    input_tile_f23(src + cb * plane, height, width, 2 * ty - 1, 2 * tx - 1, vt, vstride, bf16);
                else
                    input_tile(src + cb * plane, height, width, 4 * ty - 1, 4 * tx - 1, vt, vstride, bf16);
            }
        for (int p = 0; p < npos; p++) {
            const float *vp = v + p * vstride;
            float *mp = m + p * mstride;
            for (int j = 0; j < panels; j++) {
                const float *b = u + ((size_t)p * panels + j) * cin * NR;
                for (int r = 0; r < rows; r += MR)
                    kernel_6x16(vp + (size_t)r * 8, (size_t)group * 8, b, cin, mp + ((size_t)2 * j * group + r) * 8, (size_t)group * 8);
            }
        }
        for (int cb = 0; cb < cout / 8; cb++) {
            const __m256 bv = _mm256_loadu_ps(bias + cb * 8);
            for (int t = 0; t < n; t++) {
                const int ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
                const float *mt_ = m + ((size_t)cb * group + t) * 8;
                if (mt == 6)
                    output_tile8(mt_, mstride, dst + cb * plane, height, width, 6 * ty, 6 * tx, bv, mode);
                else if (mt == 2)
                    output_tile2(mt_, mstride, dst + cb * plane, height, width, 2 * ty, 2 * tx, bv, mode);
                else
                    output_tile(mt_, mstride, dst + cb * plane, height, width, 4 * ty, 4 * tx, bv, mode);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The transposed convolutions (ConvTranspose2d k4 s2 p1) of the decoder, as
// the engine computes them (TransposedConvolution.swift): a 2x2 convolution
// with padding 1 to 4 x cout channels at (H+1) x (W+1), then a pixel shuffle.
// Here the 2x2 convolution runs as Winograd F(3x3, 2x2) (4x4 input tiles, 16
// positions: 16 multiply-adds per 9 outputs against 36 direct, 2.25x fewer)
// and the output transform writes each value straight to its place in the
// shuffled 2H x 2W destination, so the shuffle costs no pass of its own.
//
// F(3,2), points 0, +-1, infinity: B^T = F(2,3)'s, A^T rows (1 1 1 0),
// (0 1 -1 0), (0 1 1 1); G rows (1 0), (1/2 1/2), (1/2 -1/2), (0 1).

size_t wino_up_weights_floats(int cin, int cout) { return (size_t)16 * cin * 4 * cout; }

static int up_group_tiles(int cin, int cout4) {
#ifdef WINO_GROUP_TILES
    return WINO_GROUP_TILES;
#endif
    return cin + cout4 <= 256 ? 2 * MR : MR;
}

size_t wino_up_scratch_floats(int cin, int cout) {
    const int group = up_group_tiles(cin, 4 * cout);
    return 16 * (pstride(group, cin) + pstride(group, 4 * cout));
}

int wino_up_tile_count(int height, int width) { return ((height + 1 + 2) / 3) * ((width + 1 + 2) / 3); }

// u[p][4 cout / nr][cin][nr] (nr: NR here, W16_NR for wino16_up_conv).
static void up_transform_weights(const float *w2x2, int cin, int cout, int nr, float *u) {
    static const double G[4][2] = {{1, 0}, {0.5, 0.5}, {0.5, -0.5}, {0, 1}};
    const int cout4 = 4 * cout, panels = cout4 / nr;
    for (int o = 0; o < cout4; o++) {
        for (int i = 0; i < cin; i++) {
            const float *g = w2x2 + ((size_t)o * cin + i) * 4;
            double t[4][2];
            for (int a = 0; a < 4; a++)
                for (int l = 0; l < 2; l++) t[a][l] = G[a][0] * g[0 * 2 + l] + G[a][1] * g[1 * 2 + l];
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++) {
                    double v = t[a][0] * G[b][0] + t[a][1] * G[b][1];
                    int p = a * 4 + b;
                    u[(((size_t)p * panels + o / nr) * cin + i) * nr + o % nr] = (float)v;
                }
        }
    }
}

void wino_up_transform_weights(const float *w2x2, int cin, int cout, float *u) {
    up_transform_weights(w2x2, cin, cout, NR, u);
}

void wino16_up_transform_weights(const float *w2x2, int cin, int cout, float *u) {
    up_transform_weights(w2x2, cin, cout, W16_NR, u);
}

size_t wino16_up_scratch_floats(int cin, int cout) { return w16_up_scratch_floats(cin, cout); }

void wino16_up_conv_avx512(const float *src, float *dst, const float *u, const float *bias, int cin, int cout,
                           int height, int width, int tile_begin, int tile_end, float *scratch);
void wino16_up_conv_emu(const float *src, float *dst, const float *u, const float *bias, int cin, int cout,
                        int height, int width, int tile_begin, int tile_end, float *scratch);

int wino16_up_conv(int variant, const float *src, float *dst, const float *u, const float *bias, int cin, int cout,
                   int height, int width, int tile_begin, int tile_end, float *scratch) {
    if (variant == WINO16_AUTO) variant = wino16_avx512_supported() ? WINO16_AVX512 : WINO16_EMULATED;
    if (variant == WINO16_AVX512 && wino16_avx512_supported())
        wino16_up_conv_avx512(src, dst, u, bias, cin, cout, height, width, tile_begin, tile_end, scratch);
    else if (variant == WINO16_EMULATED && wino_cpu_supported())
        wino16_up_conv_emu(src, dst, u, bias, cin, cout, height, width, tile_begin, tile_end, scratch);
    else
        return -1;
    return 0;
}

TARGET static inline void at4(const __m256 m[4], __m256 y[3]) {
    __m256 s12 = _mm256_add_ps(m[1], m[2]);
    y[0] = _mm256_add_ps(m[0], s12);
    y[1] = _mm256_sub_ps(m[1], m[2]);
    y[2] = _mm256_add_ps(s12, m[3]);
}

TARGET static void input_tile4(const float *src, int height, int width, int y0, int x0, float *v, size_t pstride) {
    __m256 t[4][4];
    const int jlo = x0 < 0 ? -x0 : 0, jhi = width - x0 < 4 ? width - x0 : 4;
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        const int y = y0 + i;
        __m256 x[4], r[4];
        if (y >= 0 && y < height && jlo == 0 && jhi == 4) {
            const float *row = src + ((size_t)y * width + x0) * 8;
            _mm_prefetch((const char *)(row + PREFETCH_PIXELS * 8), _MM_HINT_T0);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) x[j] = _mm256_load_ps(row + j * 8);
        } else {
            for (int j = 0; j < 4; j++) x[j] = _mm256_setzero_ps();
            if (y >= 0 && y < height) {
                const float *row = src + ((size_t)y * width + x0) * 8;
                for (int j = jlo; j < jhi; j++) x[j] = _mm256_load_ps(row + j * 8);
            }
        }
        bt4(x, r);
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++) t[b][i] = r[b];
    }
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++) {
        __m256 r[4];
        bt4(t[b], r);
#pragma GCC unroll 4
        for (int a = 0; a < 4; a++) _mm256_store_ps(v + (size_t)(a * 4 + b) * pstride, r[a]);
    }
}

// One tile of the 2x2 convolution's (H+1) x (W+1) output, one block of 8 of
// its 4 x cout channels, group (ga, gb): value (y, x) goes to (2y - ga,
// 2x - gb) of dst (2H x 2W) when that lies inside, after bias and LeakyReLU.
TARGET static void output_tile_up(const float *m, size_t pstride, float *dst, int height, int width, int y0, int x0,
                                  int ga, int gb, __m256 bias) {
    __m256 s[3][4], y[3][3];
#pragma GCC unroll 4
    for (int a = 0; a < 4; a++) {
        __m256 row[4], r[3];
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++) row[b] = _mm256_load_ps(m + (size_t)(a * 4 + b) * pstride);
        at4(row, r);
#pragma GCC unroll 3
        for (int c = 0; c < 3; c++) s[c][a] = r[c];
    }
#pragma GCC unroll 3
    for (int c = 0; c < 3; c++) {
        __m256 r[3];
        at4(s[c], r);
#pragma GCC unroll 3
        for (int q = 0; q < 3; q++) y[q][c] = r[q];
    }
    const __m256 slope = _mm256_set1_ps(0.1f);
    const int dw = 2 * width;
    for (int q = 0; q < 3; q++) {
        const int yy = y0 + q;
        if (yy < ga || yy > height - 1 + ga) continue;
        float *out = dst + (size_t)(2 * yy - ga) * dw * 8;
        for (int c = 0; c < 3; c++) {
            const int xx = x0 + c;
            if (xx < gb || xx > width - 1 + gb) continue;
            __m256 v = _mm256_add_ps(y[q][c], bias);
            v = _mm256_max_ps(v, _mm256_mul_ps(slope, v));
            _mm256_store_ps(out + (size_t)(2 * xx - gb) * 8, v);
        }
    }
}

TARGET void wino_up_conv(const float *src, float *dst, const float *u, const float *bias,
                         int cin, int cout, int height, int width, int tile_begin, int tile_end, float *scratch) {
    const int cout4 = 4 * cout;
    const int group = up_group_tiles(cin, cout4);
    const int zh = height + 1, zw = width + 1;
    const int tiles_w = (zw + 2) / 3;
    const size_t plane = (size_t)height * width * 8, dplane = (size_t)4 * height * width * 8;
    const size_t vstride = pstride(group, cin), mstride = pstride(group, cout4);
    float *v = scratch, *m = scratch + 16 * vstride;
    const int panels = cout4 / NR, blocks = cout / 8;
    (void)zh;

    for (int t0 = tile_begin; t0 < tile_end; t0 += group) {
        const int n = tile_end - t0 < group ? tile_end - t0 : group;
        const int rows = (n + MR - 1) / MR * MR;
        for (int cb = 0; cb < cin / 8; cb++)
            for (int t = 0; t < n; t++) {
                const int ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
                input_tile4(src + cb * plane, height, width, 3 * ty - 1, 3 * tx - 1, v + ((size_t)cb * group + t) * 8, vstride);
            }
        for (int p = 0; p < 16; p++) {
            const float *vp = v + p * vstride;
            float *mp = m + p * mstride;
            for (int j = 0; j < panels; j++) {
                const float *b = u + ((size_t)p * panels + j) * cin * NR;
                for (int r = 0; r < rows; r += MR)
                    kernel_6x16(vp + (size_t)r * 8, (size_t)group * 8, b, cin, mp + ((size_t)2 * j * group + r) * 8, (size_t)group * 8);
            }
        }
        for (int cb = 0; cb < cout4 / 8; cb++) {
            const __m256 bv = _mm256_loadu_ps(bias + cb * 8);
            const int g = cb / blocks, ga = g / 2, gb = g % 2;
            float *dblock = dst + (size_t)(cb % blocks) * dplane;
            for (int t = 0; t < n; t++) {
                const int ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
                output_tile_up(m + ((size_t)cb * group + t) * 8, mstride, dblock, height, width, 3 * ty, 3 * tx, ga, gb, bv);
            }
        }
    }
}
