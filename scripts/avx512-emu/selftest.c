/* Self-test for scripts/avx512-emu.sh. Build static:
 *   gcc -static -O2 -o build/selftest scripts/avx512-emu/selftest.c -lm
 * 1. Prints what CPUID says: avx512f, avx512bw, avx512vl, avx512_vnni,
 *    avx512_bf16, and whether the OS enabled zmm state (XCR0).
 * 2. Runs AVX-512F code (FMA over zmm, masked load/store, reduce-add) and
 *    compares with scalar code. Deliberately does NOT stop on a CPU without
 *    AVX-512F: with --force it runs the zmm code anyway, so on an AVX2-only
 *    machine it dies of SIGILL, proving the instructions are real.
 * Exit: 0 all match; 1 a mismatch; 2 CPU/OS lacks AVX-512F (without
 *   --force); 3 with --fail (after passing), to prove the harness passes
 *   exit statuses through; 64 bad usage. */
#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define N 100 /* not a multiple of 16: the tail goes through a mask */

static int bit(unsigned r, int b) { return (r >> b) & 1; }

__attribute__((target("avx512f"))) static void fma_zmm(const float *a, const float *b, const float *c, float *out, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 r = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), _mm512_loadu_ps(c + i));
        _mm512_storeu_ps(out + i, r);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 r = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i),
                                   _mm512_maskz_loadu_ps(m, c + i));
        _mm512_mask_storeu_ps(out + i, m, r);
    }
}

__attribute__((target("avx512f"))) static float sum_zmm(const float *a, int n) {
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) acc = _mm512_add_ps(acc, _mm512_loadu_ps(a + i));
    if (i < n) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), a + i));
    return _mm512_reduce_add_ps(acc);
}

/* Integer path: 32-bit multiply-add with a compare into a mask register. */
__attribute__((target("avx512f"))) static unsigned cmp_zmm(const int32_t *x, const int32_t *y) {
    __m512i p = _mm512_add_epi32(_mm512_mullo_epi32(_mm512_loadu_si512(x), _mm512_set1_epi32(3)), _mm512_set1_epi32(-7));
    return (unsigned)_mm512_cmpgt_epi32_mask(p, _mm512_loadu_si512(y));
}

int main(int argc, char **argv) {
    int force = 0, fail = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--force")) force = 1;
        else if (!strcmp(argv[i], "--fail")) fail = 1;
        else { fprintf(stderr, "selftest: unknown argument %s (--force, --fail)\n", argv[i]); return 64; }
    }

    unsigned a = 0, b = 0, c = 0, d = 0, a1 = 0, b1 = 0, c1 = 0, d1 = 0, maxleaf = __get_cpuid_max(0, NULL);
    __get_cpuid(1, &a, &b, &c, &d);
    int osxsave = bit(c, 27);
    __cpuid_count(7, 0, a, b, c, d);
    if (maxleaf >= 7 && a >= 1) __cpuid_count(7, 1, a1, b1, c1, d1);
    int f = bit(b, 16), bw = bit(b, 30), vl = bit(b, 31), vnni = bit(c, 11), bf16 = bit(a1, 5);
    int zmm_os = 0;
    if (osxsave) {
        uint32_t lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        zmm_os = (lo & 0xe6) == 0xe6; /* SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM */
    }
    char brand[49] = {0};
    if (__get_cpuid_max(0x80000000, NULL) >= 0x80000004)
        for (unsigned l = 0; l < 3; l++) __get_cpuid(0x80000002 + l, (unsigned *)(brand + 16 * l), (unsigned *)(brand + 16 * l + 4),
                                                     (unsigned *)(brand + 16 * l + 8), (unsigned *)(brand + 16 * l + 12));
    printf("cpu: %s\n", brand);
    printf("cpuid: avx512f=%d avx512bw=%d avx512vl=%d avx512vnni=%d avx512_bf16=%d os_zmm=%d\n", f, bw, vl, vnni, bf16, zmm_os);
    fflush(stdout);
    if (!(f && zmm_os) && !force) {
        printf("selftest: no AVX-512F here (or the OS has not enabled zmm state); --force runs the zmm code anyway\n");
        return 2;
    }

    float x[N], y[N], z[N], got[N], want[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)(i % 7) * 0.5f - 1.25f;
        y[i] = (float)(i % 5) + 0.25f;
        z[i] = (float)i * 0.125f;
    }
    memset(got, 0, sizeof got);
    got[N - 1] = 12345.0f; /* inside the tail */
    fma_zmm(x, y, z, got, N);
    float sentinel[4] = {1, 2, 3, 4};
    fma_zmm(x, y, z, sentinel, 3); /* masked store must not touch sentinel[3] */
    int bad = 0;
    for (int i = 0; i < N; i++) {
        want[i] = fmaf(x[i], y[i], z[i]);
        if (got[i] != want[i]) { if (bad < 5) printf("fma mismatch at %d: %g != %g\n", i, got[i], want[i]); bad++; }
    }
    if (sentinel[3] != 4.0f) { printf("masked store wrote past its mask: %g\n", sentinel[3]); bad++; }
    /* Values are multiples of 1/8 below 2^10: every sum is exact, order-free. */
    double ws = 0;
    for (int i = 0; i < N; i++) ws += want[i];
    float s = sum_zmm(want, N);
    if ((double)s != ws) { printf("reduce_add mismatch: %.9g != %.9g\n", s, ws); bad++; }
    int32_t xi[16], yi[16];
    unsigned wm = 0;
    for (int i = 0; i < 16; i++) {
        xi[i] = i * 5 - 30;
        yi[i] = (i * 37) % 23 - 11;
        if (xi[i] * 3 - 7 > yi[i]) wm |= 1u << i;
    }
    unsigned gm = cmp_zmm(xi, yi);
    if (gm != wm) { printf("cmpgt mask mismatch: %#x != %#x\n", gm, wm); bad++; }
    printf("zmm: fma[%d] masked-tail reduce_add=%g cmp_mask=%#x: %s\n", N, s, gm, bad ? "MISMATCH" : "match scalar");
    if (bad) return 1;
    if (fail) { printf("selftest: --fail given, exiting 3\n"); return 3; }
    return 0;
}
