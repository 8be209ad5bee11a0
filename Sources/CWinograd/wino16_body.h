// Winograd F(4x4, 3x3), F(6x6, 3x3) and F(2x2, 3x3) for activations in oneDNN's nChw16c
// layout (channel blocks of 16, each an H x W x 16 array): the layout the
// engine can use on AVX-512 machines, where one zmm register holds the 16
// channels of one pixel. The same scheme as winograd.c (input transform,
// 36 or 64 batched GEMMs, output transform, per group of tiles), with the
// GEMM's micro-kernel 12 tiles x 32 output channels.
//
// This body is written once against a small set of vector operations and
// included twice (private to CWinograd):
//   wino16_avx512.c: `vec` = __m512, target avx512f (what AVX-512 machines run);
//   wino16_emu.c:    `vec` = two __m256, target avx2 + fma, each operation
//                    the same IEEE operation lane by lane (a fused
//                    multiply-add is one rounding in both), so both give the
//                    same bits. On an AVX2 machine the emulation runs this
//                    code's indexing, borders and tails in the tests (and
//                    under MTRNN_LAYOUT=nChw16c); scripts/avx512-emu.sh runs
//                    the AVX-512 build itself under an emulated AVX-512 CPU.
//
// The includer defines: TARGET (the function attribute), SUFFIX (the name
// suffix of the exported function), the type `vec` and
//   v_load(p) v_loadu(p) v_store(p, x) v_zero() v_set1(f) v_bcast(p)
//   v_add(a, b) v_sub(a, b) v_mul(a, b) v_max(a, b)
//   v_fmadd(a, b, c) = a b + c   v_fnmadd(a, b, c) = c - a b   v_fmsub(a, b, c) = a b - c
// (the last three fused: one rounding), and v_round_bf16(x) (to bfloat16
// precision, nearest, ties to even: wino_round_bf16 of winograd.h).
#include "wino16_common.h"
#include "winograd.h"

#define W16_CAT_(a, b) a##_##b
#define W16_CAT(a, b) W16_CAT_(a, b)
#define W16_FN(name) W16_CAT(name, SUFFIX)

#define DO_PRAGMA(x) _Pragma(#x)
#define UNROLL(n) DO_PRAGMA(GCC unroll n)

// B^T x for 4 values and A^T m for 4 -> 2 (F(2,3)): winograd.c's bt4 and at2.
TARGET static inline void bt4(const vec x[4], vec y[4]) {
    y[0] = v_sub(x[0], x[2]);
    y[1] = v_add(x[1], x[2]);
    y[2] = v_sub(x[2], x[1]);
    y[3] = v_sub(x[3], x[1]);
}

TARGET static inline void at2(const vec m[4], vec y[2]) {
    y[0] = v_add(v_add(m[0], m[1]), m[2]);
    y[1] = v_add(v_sub(m[1], m[2]), m[3]);  // + m3: bt4's last row is x3 - x1
}

// A^T m for 4 values -> 3 (F(3,2), the transposed convolutions): winograd.c's at4.
TARGET static inline void at4(const vec m[4], vec y[3]) {
    vec s12 = v_add(m[1], m[2]);
    y[0] = v_add(m[0], s12);
    y[1] = v_sub(m[1], m[2]);
    y[2] = v_add(s12, m[3]);
}

// B^T x for 6 values (F(4,3), points 0, +-1, +-2): winograd.c's bt6.
TARGET static inline void bt6(const vec x[6], vec y[6]) {
    const vec four = v_set1(4.0f), five = v_set1(5.0f), two = v_set1(2.0f);
    vec a = v_fnmadd(four, x[2], x[4]);             // x4 - 4 x2
    vec b = v_fnmadd(four, x[1], x[3]);             // x3 - 4 x1
    vec c = v_sub(x[4], x[2]);                      // x4 - x2
    vec d = v_mul(two, v_sub(x[3], x[1]));          // 2 (x3 - x1)
    y[0] = v_fmadd(four, x[0], v_fnmadd(five, x[2], x[4]));
    y[1] = v_add(a, b);
    y[2] = v_sub(a, b);
    y[3] = v_add(c, d);
    y[4] = v_sub(c, d);
    y[5] = v_fmadd(four, x[1], v_fnmadd(five, x[3], x[5]));
}

// A^T m for 6 values -> 4.
TARGET static inline void at6(const vec m[6], vec y[4]) {
    const vec two = v_set1(2.0f), four = v_set1(4.0f), eight = v_set1(8.0f);
    vec s12 = v_add(m[1], m[2]), d12 = v_sub(m[1], m[2]);
    vec s34 = v_add(m[3], m[4]), d34 = v_sub(m[3], m[4]);
    y[0] = v_add(v_add(m[0], s12), s34);
    y[1] = v_fmadd(two, d34, d12);
    y[2] = v_fmadd(four, s34, s12);
    y[3] = v_add(v_fmadd(eight, d34, d12), m[5]);
}

// B^T x for 8 values (F(6,3)): winograd.c's bt8.
TARGET static inline void bt8(const vec x[8], vec y[8]) {
    const vec c525 = v_set1(5.25f), c425 = v_set1(4.25f), c25 = v_set1(2.5f), c125 = v_set1(1.25f),
              c05 = v_set1(0.5f), c025 = v_set1(0.25f), two = v_set1(2.0f), four = v_set1(4.0f);
    y[0] = v_fmadd(c525, v_sub(x[4], x[2]), v_sub(x[0], x[6]));
    y[7] = v_fmadd(c525, v_sub(x[3], x[5]), v_sub(x[7], x[1]));
    vec t1 = v_fnmadd(c425, x[4], v_add(x[2], x[6]));
    vec t2 = v_fnmadd(c425, x[3], v_add(x[1], x[5]));
    y[1] = v_add(t1, t2);
    y[2] = v_sub(t1, t2);
    t1 = v_fmadd(c025, x[2], v_fnmadd(c125, x[4], x[6]));
    t2 = v_fmadd(c05, x[1], v_fmsub(two, x[5], v_mul(c25, x[3])));
    y[3] = v_add(t1, t2);
    y[4] = v_sub(t1, t2);
    t1 = v_fmadd(four, v_fnmadd(c125, x[4], x[2]), x[6]);
    t2 = v_fmadd(two, x[1], v_fmsub(c05, x[5], v_mul(c25, x[3])));
    y[5] = v_add(t1, t2);
    y[6] = v_sub(t1, t2);
}

// A^T m for 8 values -> 6.
TARGET static inline void at8(const vec m[8], vec y[6]) {
    const vec two = v_set1(2.0f), four = v_set1(4.0f), eight = v_set1(8.0f), c16 = v_set1(16.0f),
              c32 = v_set1(32.0f), c05 = v_set1(0.5f), c025 = v_set1(0.25f), c0125 = v_set1(0.125f),
              c00625 = v_set1(0.0625f), c003125 = v_set1(0.03125f);
    vec s12 = v_add(m[1], m[2]), d12 = v_sub(m[1], m[2]);
    vec s34 = v_add(m[3], m[4]), d34 = v_sub(m[3], m[4]);
    vec s56 = v_add(m[5], m[6]), d56 = v_sub(m[5], m[6]);
    y[0] = v_add(v_add(m[0], s12), v_add(s34, s56));
    y[1] = v_fmadd(c05, d56, v_fmadd(two, d34, d12));
    y[2] = v_fmadd(c025, s56, v_fmadd(four, s34, s12));
    y[3] = v_fmadd(c0125, d56, v_fmadd(eight, d34, d12));
    y[4] = v_fmadd(c00625, s56, v_fmadd(c16, s34, s12));
    y[5] = v_add(v_fmadd(c003125, d56, v_fmadd(c32, d34, d12)), m[7]);
}

// One A x A input tile, one block of 16 channels (one vector a pixel), into
// v[p * pstride] for the A^2 positions p: rows through BT into t (stored
// transposed), then columns. The next tile along x is prefetched (a pixel
// is one 64-byte line here).
#define W16_INPUT_TILE(NAME, A, BT)                                                                                 \
__attribute__((noinline)) TARGET static void NAME(const float *src, int height, int width, int y0, int x0, float *v, size_t pstride, \
                                                  int bf16) {                                                       \
    vec t[A][A];                                                                                                    \
    if (y0 >= 0 && x0 >= 0 && y0 + A <= height && x0 + A <= width) {                                               \
        UNROLL(A)                                                                                                   \
        for (int i = 0; i < A; i++) {                                                                               \
            const float *row = src + ((size_t)(y0 + i) * width + x0) * 16;                                          \
            UNROLL(A - 2)                                                                                           \
            for (int q = 0; q < A - 2; q++) __builtin_prefetch(row + (A + q) * 16);                                 \
            vec x[A], r[A];                                                                                         \
            UNROLL(A)                                                                                               \
            for (int j = 0; j < A; j++) x[j] = v_load(row + j * 16);                                                \
            BT(x, r);                                                                                               \
            UNROLL(A)                                                                                               \
            for (int b = 0; b < A; b++) t[b][i] = r[b];                                                             \
        }                                                                                                           \
    } else {                                                                                                        \
        const int jlo = x0 < 0 ? -x0 : 0, jhi = width - x0 < A ? width - x0 : A;                                    \
        for (int i = 0; i < A; i++) {                                                                               \
            const int y = y0 + i;                                                                                   \
            vec x[A], r[A];                                                                                         \
            for (int j = 0; j < A; j++) x[j] = v_zero();                                                            \
            if (y >= 0 && y < height) {                                                                             \
                const float *row = src + ((size_t)y * width + x0) * 16;                                             \
                for (int j = jlo; j < jhi; j++) x[j] = v_load(row + j * 16);                                        \
            }                                                                                                       \
            BT(x, r);                                                                                               \
            for (int b = 0; b < A; b++) t[b][i] = r[b];                                                             \
        }                                                                                                           \
    }                                                                                                               \
    UNROLL(A)                                                                                                       \
    for (int b = 0; b < A; b++) {                                                                                   \
        vec r[A];                                                                                                   \
        BT(t[b], r);                                                                                                \
        UNROLL(A)                                                                                                   \
        for (int a = 0; a < A; a++) v_store(v + (size_t)(a * A + b) * pstride, bf16 ? v_round_bf16(r[a]) : r[a]);   \
    }                                                                                                               \
}

// One M x M output tile, one block of 16 output channels: A^T m A + bias,
// then LeakyReLU (slope 0.1) or += into dst, clipped at the edges.
#define W16_OUTPUT_TILE(NAME, A, M, AT)                                                                             \
__attribute__((noinline)) TARGET static void NAME(const float *m, size_t pstride, float *dst, int height, int width, int y0, int x0,          \
                        vec bias, int mode) {                                                                       \
    vec s[M][A], y[M][M];                                                                                           \
    UNROLL(A)                                                                                                       \
    for (int a = 0; a < A; a++) {                                                                                   \
        vec row[A], r[M];                                                                                           \
        UNROLL(A)                                                                                                   \
        for (int b = 0; b < A; b++) row[b] = v_load(m + (size_t)(a * A + b) * pstride);                            \
        AT(row, r);                                                                                                 \
        UNROLL(M)                                                                                                   \
        for (int c = 0; c < M; c++) s[c][a] = r[c];                                                                 \
    }                                                                                                               \
    UNROLL(M)                                                                                                       \
    for (int c = 0; c < M; c++) {                                                                                   \
        vec r[M];                                                                                                   \
        AT(s[c], r);                                                                                                \
        UNROLL(M)                                                                                                   \
        for (int q = 0; q < M; q++) y[q][c] = r[q];                                                                 \
    }                                                                                                               \
    const vec slope = v_set1(0.1f);                                                                                 \
    const int rows = height - y0 < M ? height - y0 : M, cols = width - x0 < M ? width - x0 : M;                     \
    for (int q = 0; q < rows; q++) {                                                                                \
        float *out = dst + ((size_t)(y0 + q) * width + x0) * 16;                                                    \
        for (int c = 0; c < cols; c++) {                                                                            \
            vec v = v_add(y[q][c], bias);                                                                           \
            if (mode == WINO_LEAKY_RELU)                                                                            \
                v = v_max(v, v_mul(slope, v));                                                                      \
            else                                                                                                    \
                v = v_add(v, v_load(out + c * 16));                                                                 \
            v_store(out + c * 16, v);                                                                               \
        }                                                                                                           \
    }                                                                                                               \
}

W16_INPUT_TILE(input_tile6, 6, bt6)        // F(4,3)
W16_OUTPUT_TILE(output_tile4, 6, 4, at6)
W16_INPUT_TILE(input_tile8, 8, bt8)        // F(6,3)
W16_OUTPUT_TILE(output_tile6, 8, 6, at8)
W16_INPUT_TILE(input_tile4, 4, bt4)        // F(2,3)
W16_OUTPUT_TILE(output_tile2, 4, 2, at2)

// c[MR][NR] = a[MR][k] x b[k][NR]. a is channel-blocked like V: element
// (i, l) at a[(l / 16) * ablock + i * 16 + l % 16]; b is k rows of NR; columns
// 0-15 of c's row i go to c[i * 16], 16-31 to c[cblock + i * 16].
__attribute__((noinline)) TARGET static void kernel_12x32(const float *a, size_t ablock, const float *b, int k, float *c, size_t cblock) {
    vec acc0[W16_MR], acc1[W16_MR];
    UNROLL(12)
    for (int i = 0; i < W16_MR; i++) acc0[i] = acc1[i] = v_zero();
    for (int lb = 0; lb < k; lb += 16, a += ablock) {
        for (int l = 0; l < 16; l++) {
            const vec b0 = v_load(b), b1 = v_load(b + 16);
            UNROLL(12)
            for (int i = 0; i < W16_MR; i++) {
                const vec x = v_bcast(a + i * 16 + l);
                acc0[i] = v_fmadd(x, b0, acc0[i]);
                acc1[i] = v_fmadd(x, b1, acc1[i]);
            }
            b += W16_NR;
        }
    }
    UNROLL(12)
    for (int i = 0; i < W16_MR; i++) {
        v_store(c + i * 16, acc0[i]);
        v_store(c + cblock + i * 16, acc1[i]);
    }
}

// The input transform of a group's n tiles (from t0, tiles_w to a row), every
// block of 16 input channels: `tile` (input_tile4/6/8) on the tile whose
// output starts at step x (ty, tx), its input one pixel up and left.
typedef void (*w16_input_tile_fn)(const float *, int, int, int, int, float *, size_t, int);
TARGET static void transform_inputs(w16_input_tile_fn tile, int step, const float *src, int cin, int height, int width,
                                    int tiles_w, int t0, int n, int group, float *v, size_t vstride, int bf16) {
    const size_t plane = (size_t)height * width * 16;
    for (int cb = 0; cb < cin / 16; cb++)
        for (int t = 0; t < n; t++) {
            const int ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
            tile(src + cb * plane, height, width, step * ty - 1, step * tx - 1, v + ((size_t)cb * group + t) * 16,
                 vstride, bf16);
        }
}

// The group's GEMMs, one per position p: M[p] (rows x panels * 32) =
// V[p] (rows x cin) x U[p] (cin x panels * 32), in the channel-blocked
// layouts above (rows: the group's tiles rounded up to W16_MR).
TARGET static void batched_gemm(int npos, const float *v, size_t vstride, float *m, size_t mstride, const float *u,
                                int cin, int panels, int group, int rows) {
    for (int p = 0; p < npos; p++) {
        const float *vp = v + p * vstride;
        float *mp = m + p * mstride;
        for (int j = 0; j < panels; j++) {
            const float *b = u + ((size_t)p * panels + j) * cin * W16_NR;
            for (int r = 0; r < rows; r += W16_MR)
                kernel_12x32(vp + (size_t)r * 16, (size_t)group * 16, b, cin,
                             mp + ((size_t)2 * j * group + r) * 16, (size_t)group * 16);
        }
    }
}

// Tiles [tile_begin, tile_end) of the m x m-output-tile convolution; u from
// wino_transform_weights_panels(m, ..., W16_NR, u). As wino_conv3x3 in
// winograd.c, with blocks of 16 channels.
TARGET void W16_FN(wino16_conv3x3)(int mt, const float *src, float *dst, const float *u, const float *bias,
                                   int cin, int cout, int height, int width, int mode,
                                   int tile_begin, int tile_end, float *scratch) {
    const int bf16 = (mode & WINO_BF16_GEMM) != 0;
    mode &= ~WINO_BF16_GEMM;
    const int group = w16_group_tiles(mt, cin, cout);
    const int npos = w16_positions(mt);
    const int tiles_w = (width + mt - 1) / mt;
    const size_t plane = (size_t)height * width * 16;
    const size_t vstride = w16_pstride(group, cin), mstride = w16_pstride(group, cout);
    float *v = scratch, *m = scratch + npos * vstride;
    const w16_input_tile_fn input_tile = mt == 6 ? input_tile8 : mt == 2 ? input_tile4 : input_tile6;

    for (int t0 = tile_begin; t0 < tile_end; t0 += group) {
        const int n = tile_end - t0 < group ? tile_end - t0 : group;
        // Rows past n (up to the next MR) hold stale but finite values of an
        // earlier group (or the scratch's zeros): computed, never written out.
        const int rows = (n + W16_MR - 1) / W16_MR * W16_MR;
        transform_inputs(input_tile, mt, src, cin, height, width, tiles_w, t0, n, group, v, vstride, bf16);
        batched_gemm(npos, v, vstride, m, mstride, u, cin, cout / W16_NR, group, rows);
        for (int cb = 0; cb < cout / 16; cb++) {
            const vec bv = v_loadu(bias + cb * 16);
            for (int t = 0; t < n; t++) {
                const int ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
                const float *mt_ = m + ((size_t)cb * group + t) * 16;
                if (mt == 6)
                    output_tile6(mt_, mstride, dst + cb * plane, height, width, 6 * ty, 6 * tx, bv, mode);
                else if (mt == 2)
                    output_tile2(mt_, mstride, dst + cb * plane, height, width, 2 * ty, 2 * tx, bv, mode);
                else
                    output_tile4(mt_, mstride, dst + cb * plane, height, width, 4 * ty, 4 * tx, bv, mode);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The transposed convolutions (ConvTranspose2d k4 s2 p1) as winograd.c's
// wino_up_conv: a 2x2 convolution with padding 1 to 4 x cout channels at
// (H+1) x (W+1) by Winograd F(3x3, 2x2) (4x4 input tiles: input_tile4, the
// same B^T as F(2,3)), each value stored straight into its place of the
// pixel-shuffled 2H x 2W x cout destination, then bias and LeakyReLU 0.1.
// Here in nChw16c: cin and cout multiples of 16.

// One tile of the 2x2 convolution's output, one block of 16 of its 4 x cout
// channels, group (ga, gb): value (y, x) goes to (2y - ga, 2x - gb) of dst.
__attribute__((noinline)) TARGET static void output_tile_up(const float *m, size_t pstride, float *dst, int height,
                                                            int width, int y0, int x0, int ga, int gb, vec bias) {
    vec s[3][4], y[3][3];
    UNROLL(4)
    for (int a = 0; a < 4; a++) {
        vec row[4], r[3];
        UNROLL(4)
        for (int b = 0; b < 4; b++) row[b] = v_load(m + (size_t)(a * 4 + b) * pstride);
        at4(row, r);
        UNROLL(3)
        for (int c = 0; c < 3; c++) s[c][a] = r[c];
    }
    UNROLL(3)
    for (int c = 0; c < 3; c++) {
        vec r[3];
        at4(s[c], r);
        UNROLL(3)
        for (int q = 0; q < 3; q++) y[q][c] = r[q];
    }
    const vec slope = v_set1(0.1f);
    const int dw = 2 * width;
    for (int q = 0; q < 3; q++) {
        const int yy = y0 + q;
        if (yy < ga || yy > height - 1 + ga) continue;
        float *out = dst + (size_t)(2 * yy - ga) * dw * 16;
        for (int c = 0; c < 3; c++) {
            const int xx = x0 + c;
            if (xx < gb || xx > width - 1 + gb) continue;
            vec v = v_add(y[q][c], bias);
            v = v_max(v, v_mul(slope, v));
            v_store(out + (size_t)(2 * xx - gb) * 16, v);
        }
    }
}

// Tiles [tile_begin, tile_end) (wino_up_tile_count); u from
// wino16_up_transform_weights, bias [4][cout] (the four groups' copies).
TARGET void W16_FN(wino16_up_conv)(const float *src, float *dst, const float *u, const float *bias, int cin, int cout,
                                   int height, int width, int tile_begin, int tile_end, float *scratch) {
    const int cout4 = 4 * cout;
    const int group = w16_up_group_tiles(cin, cout4);
    const int tiles_w = (width + 1 + 2) / 3;
    const size_t dplane = (size_t)4 * height * width * 16;
    const size_t vstride = w16_pstride(group, cin), mstride = w16_pstride(group, cout4);
    float *v = scratch, *m = scratch + 16 * vstride;
    const int panels = cout4 / W16_NR, blocks = cout / 16;

    for (int t0 = tile_begin; t0 < tile_end; t0 += group) {
        const int n = tile_end - t0 < group ? tile_end - t0 : group;
        const int rows = (n + W16_MR - 1) / W16_MR * W16_MR;
        transform_inputs(input_tile4, 3, src, cin, height, width, tiles_w, t0, n, group, v, vstride, 0);
        batched_gemm(16, v, vstride, m, mstride, u, cin, panels, group, rows);
        for (int cb = 0; cb < cout4 / 16; cb++) {
            const vec bv = v_loadu(bias + cb * 16);
            const int g = cb / blocks, ga = g / 2, gb = g % 2;
            float *dblock = dst + (size_t)(cb % blocks) * dplane;
            for (int t = 0; t < n; t++) {
                const int ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
                output_tile_up(m + ((size_t)cb * group + t) * 16, mstride, dblock, height, width, 3 * ty, 3 * tx, ga, gb, bv);
            }
        }
    }
}
