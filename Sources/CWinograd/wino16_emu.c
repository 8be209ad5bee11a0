// The 16-channel-block Winograd kernels (wino16_body.h) on AVX2 + FMA, each
// 16-wide vector as two __m256: the same IEEE operations lane by lane as
// wino16_avx512.c (fused multiply-adds included), so the same bits. Runs the
// nChw16c path on AVX2 machines: the tests check its indexing, borders and
// tails there, and MTRNN_LAYOUT=nChw16c uses it. Not tuned for speed (the
// 12 x 32 micro-kernel needs 48 ymm accumulators, and spills).
#include "round_bf16.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
#define SUFFIX emu
typedef struct { __m256 lo, hi; } vec;

#define EMU static inline __attribute__((always_inline, target("avx2,fma")))
EMU vec emu_load(const float *p) { return (vec){_mm256_load_ps(p), _mm256_load_ps(p + 8)}; }
EMU vec emu_loadu(const float *p) { return (vec){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
EMU void emu_store(float *p, vec x) { _mm256_store_ps(p, x.lo); _mm256_store_ps(p + 8, x.hi); }
EMU vec emu_set1(float f) { __m256 x = _mm256_set1_ps(f); return (vec){x, x}; }
EMU vec emu_add(vec a, vec b) { return (vec){_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
EMU vec emu_sub(vec a, vec b) { return (vec){_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
EMU vec emu_mul(vec a, vec b) { return (vec){_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
EMU vec emu_max(vec a, vec b) { return (vec){_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)}; }
EMU vec emu_fmadd(vec a, vec b, vec c) { return (vec){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
EMU vec emu_fnmadd(vec a, vec b, vec c) { return (vec){_mm256_fnmadd_ps(a.lo, b.lo, c.lo), _mm256_fnmadd_ps(a.hi, b.hi, c.hi)}; }
EMU vec emu_fmsub(vec a, vec b, vec c) { return (vec){_mm256_fmsub_ps(a.lo, b.lo, c.lo), _mm256_fmsub_ps(a.hi, b.hi, c.hi)}; }

EMU vec v_round_bf16(vec x) { return (vec){round_bf16_avx2(x.lo), round_bf16_avx2(x.hi)}; }

#define v_load(p) emu_load(p)
#define v_loadu(p) emu_loadu(p)
#define v_store(p, x) emu_store((p), (x))
#define v_zero() emu_set1(0.0f)
#define v_set1(f) emu_set1(f)
#define v_bcast(p) emu_set1(*(p))
#define v_add(a, b) emu_add((a), (b))
#define v_sub(a, b) emu_sub((a), (b))
#define v_mul(a, b) emu_mul((a), (b))
#define v_max(a, b) emu_max((a), (b))
#define v_fmadd(a, b, c) emu_fmadd((a), (b), (c))
#define v_fnmadd(a, b, c) emu_fnmadd((a), (b), (c))
#define v_fmsub(a, b, c) emu_fmsub((a), (b), (c))

#include "wino16_body.h"
