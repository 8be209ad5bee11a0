#ifndef MTRNN_WINOGRAD_H
#define MTRNN_WINOGRAD_H
// Winograd F(4x4, 3x3), F(6x6, 3x3) and F(2x2, 3x3) convolution (`m` = 4,
// 6 or 2, the output tile's side), stride 1, padding 1, for f32 N=1
// activations in oneDNN's nChw8c layout (channel blocks of 8, each an
// H x W x 8 array). Single-threaded: a caller that wants more threads splits
// [0, wino_tile_count) between them, each with its own scratch buffer.
// Channel counts must be multiples of 16.
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What the output transform does with conv + bias.
enum {
    /// dst = LeakyReLU_0.1(conv(src) + bias)
    WINO_LEAKY_RELU = 0,
    /// dst = dst + conv(src) + bias (the residual add)
    WINO_ACCUMULATE = 1,
    /// Flag, or-ed into the mode: round the GEMM's inputs (the transformed
    /// data here; the weights with wino_round_bf16) to bfloat16, to the
    /// nearest, ties to even, so that the f32 GEMM computes what a bf16 GEMM
    /// with f32 accumulation (vdpbf16ps) would: a bf16 x bf16 product is
    /// exact in f32. For measuring the quality of a bf16 Winograd on any
    /// CPU; no faster.
    WINO_BF16_GEMM = 4,
};

/// Rounds n floats to bfloat16 precision in place (nearest, ties to even;
/// the low 16 bits become 0).
void wino_round_bf16(float *x, size_t n);

/// 1 when this CPU runs the AVX2 + FMA kernels (checked at run time; the
/// rest of the program is not built for AVX2).
int wino_cpu_supported(void);

/// Floats in the transformed weights of a cin -> cout 3x3 layer.
size_t wino_weights_floats(int m, int cin, int cout);

/// Transforms PyTorch [cout][cin][3][3] weights once, in double precision,
/// into the layout the GEMM kernel reads (`u`: wino_weights_floats floats,
/// 32-byte aligned).
void wino_transform_weights(int m, const float *oihw, int cin, int cout, float *u);

/// Floats of scratch one thread needs (32-byte aligned).
size_t wino_scratch_floats(int m, int cin, int cout);

/// Output tiles of a height x width map (m x m pixels each, raster order).
int wino_tile_count(int m, int height, int width);

/// Runs output tiles [tile_begin, tile_end) of the convolution. `src` and
/// `dst` are nChw8c with cin and cout channels and must not overlap.
void wino_conv3x3(int m, const float *src, float *dst, const float *u, const float *bias,
                  int cin, int cout, int height, int width, int mode,
                  int tile_begin, int tile_end, float *scratch);

/// The decoder's transposed convolutions (ConvTranspose2d k4 s2 p1, cin ->
/// cout), computed as a 2x2 convolution with padding 1 to 4 x cout channels
/// at (H+1) x (W+1) (weights [4 cout][cin][2][2], channel group a * 2 + b)
/// by Winograd F(3x3, 2x2), each value stored straight into its place of
/// the pixel-shuffled 2H x 2W x cout destination, then bias and LeakyReLU
/// 0.1. cin and 4 x cout multiples of 16, cout of 8.
size_t wino_up_weights_floats(int cin, int cout);
void wino_up_transform_weights(const float *w2x2, int cin, int cout, float *u);
size_t wino_up_scratch_floats(int cin, int cout);
/// Tiles (3x3 values of the (H+1) x (W+1) map each) of an H x W input.
int wino_up_tile_count(int height, int width);
/// Runs tiles [tile_begin, tile_end). src: cin x H x W, dst: cout x 2H x 2W,
/// both nChw8c; every pixel of dst is written by exactly one tile.
void wino_up_conv(const float *src, float *dst, const float *u, const float *bias,
                  int cin, int cout, int height, int width, int tile_begin, int tile_end, float *scratch);

/// The same 3x3 convolution for nChw16c activations (channel blocks of 16),
/// the layout AVX-512 machines use: F(4,3), F(6,3) or F(2,3) as above, with cin and
/// cout multiples of 32 and a 12 x 32 GEMM micro-kernel. Two builds of one
/// source: AVX-512F, and an emulation on AVX2 + FMA (two ymm per 16-wide
/// vector, the same operations, so the same bits) that lets AVX2 machines
/// run and test this code.
enum {
    /// AVX-512F where this CPU has it, else the emulation.
    WINO16_AUTO = 0,
    /// The AVX-512F build (only where wino16_avx512_supported()).
    WINO16_AVX512 = 1,
    /// The AVX2 + FMA emulation (only where wino_cpu_supported()).
    WINO16_EMULATED = 2,
};
int wino16_avx512_supported(void);
/// The weights' transform for wino16_conv3x3 (wino_weights_floats floats,
/// 64-byte aligned): u[p][cout / 32][cin][32].
void wino16_transform_weights(int m, const float *oihw, int cin, int cout, float *u);
/// Floats of scratch one thread needs (64-byte aligned; zeroed once, as GEMM
/// rows past a group's last tile read it).
size_t wino16_scratch_floats(int m, int cin, int cout);
/// As wino_conv3x3 (tiles: wino_tile_count), on nChw16c `src` and `dst`.
/// Returns 0, or -1 (nothing done) when `variant` cannot run on this CPU.
int wino16_conv3x3(int variant, int m, const float *src, float *dst, const float *u, const float *bias,
                   int cin, int cout, int height, int width, int mode,
                   int tile_begin, int tile_end, float *scratch);

/// The transposed convolutions (as wino_up_conv) on nChw16c tensors: cin and
/// cout multiples of 16; tiles: wino_up_tile_count; weights:
/// wino_up_weights_floats floats (64-byte aligned); returns 0, or -1 (nothing
/// done) when `variant` cannot run on this CPU.
void wino16_up_transform_weights(const float *w2x2, int cin, int cout, float *u);
size_t wino16_up_scratch_floats(int cin, int cout);
int wino16_up_conv(int variant, const float *src, float *dst, const float *u, const float *bias, int cin, int cout,
                   int height, int width, int tile_begin, int tile_end, float *scratch);

#ifdef __cplusplus
}
#endif
#endif
