// f32 -> bfloat16 precision, 8 lanes (wino_round_bf16 of winograd.h: to the
// nearest, ties to even, low 16 bits zeroed; finite values). Private to
// CWinograd: winograd.c and wino16_emu.c.
#ifndef MTRNN_ROUND_BF16_H
#define MTRNN_ROUND_BF16_H
#include <immintrin.h>

static inline __attribute__((always_inline, target("avx2"))) __m256 round_bf16_avx2(__m256 x) {
    __m256i b = _mm256_castps_si256(x);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
    b = _mm256_add_epi32(b, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd));
    return _mm256_castsi256_ps(_mm256_and_si256(b, _mm256_set1_epi32((int)0xffff0000u)));
}
#endif
