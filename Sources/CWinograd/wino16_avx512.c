// The 16-channel-block Winograd kernels (wino16_body.h) in AVX-512F: what
// AVX-512 machines run. Called only where wino16_avx512_supported() (the
// rest of the program is not built for AVX-512).
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))
#define SUFFIX avx512
typedef __m512 vec;

#define v_load(p) _mm512_load_ps(p)
#define v_loadu(p) _mm512_loadu_ps(p)
#define v_store(p, x) _mm512_store_ps((p), (x))
#define v_zero() _mm512_setzero_ps()
#define v_set1(f) _mm512_set1_ps(f)
#define v_bcast(p) _mm512_set1_ps(*(p))
#define v_add(a, b) _mm512_add_ps((a), (b))
#define v_sub(a, b) _mm512_sub_ps((a), (b))
#define v_mul(a, b) _mm512_mul_ps((a), (b))
#define v_max(a, b) _mm512_max_ps((a), (b))
#define v_fmadd(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define v_fnmadd(a, b, c) _mm512_fnmadd_ps((a), (b), (c))
#define v_fmsub(a, b, c) _mm512_fmsub_ps((a), (b), (c))

TARGET static inline __m512 v_round_bf16(__m512 x) {
    __m512i b = _mm512_castps_si512(x);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    b = _mm512_add_epi32(b, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd));
    return _mm512_castsi512_ps(_mm512_and_si512(b, _mm512_set1_epi32((int)0xffff0000u)));
}

#include "wino16_body.h"
