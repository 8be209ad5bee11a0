/* Peak arithmetic throughput of this machine, measured rather than assumed:
 * independent chains of FMAs in registers (no memory traffic), on 1 thread
 * and on every core at once, printed as GFLOP/s (an FMA is 2 FLOP per lane).
 *
 *   f32 avx2     vfmadd231ps ymm, 8 lanes            (any x86-64 with AVX2+FMA)
 *   f32 avx512   vfmadd231ps zmm, 16 lanes           (only when the CPU has avx512f)
 *   bf16 avx512  vdpbf16ps zmm: 32 bf16 pairs -> 16 f32, counted as 64 FLOP
 *                                                     (only with avx512_bf16)
 * Variants are compiled with target attributes and dispatched on
 * __builtin_cpu_supports, so one binary runs everywhere; a variant the CPU
 * lacks is reported as skipped, with the reason.
 *
 * Output: one line per measurement, "peak <variant> <threads> <GFLOP/s>",
 * or "skip <variant> <reason>". Usage: peak [seconds per measurement, 0.5]
 * Build: cc -O2 -pthread scripts/peak/peak.c -o peak
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* 12 independent accumulators: enough to cover FMA latency (4) x 2 ports
 * with room to spare, few enough to stay in 16 ymm registers. */
#define CHAINS 12
#define INNER 1000

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef double (*kernel_fn)(long rounds, float seed); /* returns FLOP done */

__attribute__((target("avx2,fma"))) static double fma_avx2(long rounds, float seed) {
    __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    __m256 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps(seed + i);
    for (long r = 0; r < rounds; r++) {
        for (int k = 0; k < INNER; k++) {
#pragma GCC unroll 12
            for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
        }
    }
    __m256 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, acc[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    volatile float sink = out[0]; (void)sink; /* keep the work alive */
    return (double)rounds * INNER * CHAINS * 8 * 2;
}

__attribute__((target("avx512f"))) static double fma_avx512(long rounds, float seed) {
    __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps(seed + i);
    for (long r = 0; r < rounds; r++) {
        for (int k = 0; k < INNER; k++) {
#pragma GCC unroll 12
            for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        }
    }
    __m512 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
    volatile float sink = _mm512_reduce_add_ps(s); (void)sink;
    return (double)rounds * INNER * CHAINS * 16 * 2;
}

#if defined(__GNUC__) && (__GNUC__ >= 10 || defined(__clang__))
#define HAVE_BF16_INTRINSICS 1
__attribute__((target("avx512f,avx512bf16"))) static double dp_bf16(long rounds, float seed) {
    __m512 x = _mm512_set1_ps(0.5f + seed * 1e-3f);
    __m512bh a = _mm512_cvtne2ps_pbh(x, x), b = _mm512_cvtne2ps_pbh(x, x);
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps(seed + i);
    for (long r = 0; r < rounds; r++) {
        for (int k = 0; k < INNER; k++) {
#pragma GCC unroll 12
            for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
        }
    }
    __m512 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
    volatile float sink = _mm512_reduce_add_ps(s); (void)sink;
    /* 16 f32 lanes, each 2 bf16 products summed in: 4 FLOP per lane. */
    return (double)rounds * INNER * CHAINS * 16 * 4;
}
#endif

struct job {
    kernel_fn fn;
    long rounds;
    int cpu;
    pthread_barrier_t *start;
    double flop;
};

static void *worker(void *arg) {
    struct job *j = arg;
    if (j->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(j->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    pthread_barrier_wait(j->start);
    j->flop = j->fn(j->rounds, (float)j->cpu);
    return NULL;
}

/* Runs fn on `threads` threads, each pinned to its own core, for about
 * `seconds`; returns GFLOP/s of the slowest finish (all ran concurrently). */
static double measure(kernel_fn fn, int threads, double seconds) {
    /* Calibrate rounds on one thread so that a run lasts `seconds`. */
    long rounds = 1;
    for (;;) {
        double t = now();
        fn(rounds, 1.0f);
        double dt = now() - t;
        if (dt > 0.05) { rounds = (long)(rounds * seconds / dt) + 1; break; }
        rounds *= 4;
    }
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {  /* best of 3: the machine may be shared */
        pthread_t tid[256];
        struct job jobs[256];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
        for (int i = 0; i < threads; i++) {
            jobs[i] = (struct job){fn, rounds, threads > 1 ? i : -1, &start, 0};
            pthread_create(&tid[i], NULL, worker, &jobs[i]);
        }
        double t = now();
        pthread_barrier_wait(&start);
        double flop = 0;
        for (int i = 0; i < threads; i++) { pthread_join(tid[i], NULL); flop += jobs[i].flop; }
        double dt = now() - t;
        pthread_barrier_destroy(&start);
        double g = flop / dt / 1e9;
        if (g > best) best = g;
    }
    return best;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 0.5;
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 256) cores = 256;
    __builtin_cpu_init();
    struct { const char *name; kernel_fn fn; const char *missing; } v[] = {
        {"f32-avx2-fma", fma_avx2,
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? NULL : "CPU lacks avx2/fma"},
        {"f32-avx512", fma_avx512, __builtin_cpu_supports("avx512f") ? NULL : "CPU lacks avx512f"},
#ifdef HAVE_BF16_INTRINSICS
        {"bf16-avx512-vdpbf16ps", dp_bf16,
         __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16") ? NULL : "CPU lacks avx512_bf16"},
#else
        {"bf16-avx512-vdpbf16ps", NULL, "compiler too old for avx512bf16 intrinsics"},
#endif
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (v[i].missing) { printf("skip %s %s\n", v[i].name, v[i].missing); continue; }
        printf("peak %s 1 %.1f\n", v[i].name, measure(v[i].fn, 1, seconds));
        fflush(stdout);
        if (cores > 1) printf("peak %s %d %.1f\n", v[i].name, cores, measure(v[i].fn, cores, seconds));
        fflush(stdout);
    }
    return 0;
}
