// wino16_check: the nChw16c Winograd kernels (Sources/CWinograd) outside
// Swift, as one static program, so that it can run where Swift cannot: under
// an emulated AVX-512 CPU (scripts/avx512-emu.sh, Bochs), on a machine
// without AVX-512. Built and run by scripts/check-wino16.sh.
//
// For F(4,3), F(6,3) and F(2,3), both output modes (and LeakyReLU with the
// GEMM's inputs rounded to bf16, WINO_BF16_GEMM) and shapes with partial
// tiles and partial groups, it compares:
//   - each variant this CPU runs (the AVX-512F build, the AVX2 emulation)
//     against a direct convolution in double: relative L2 <= 1e-5 (bf16:
//     <= 1e-1, and above 1e-4, so that the rounding is seen to happen);
//   - the AVX-512F build against the emulation, bit for bit (where both run).
// And the transposed convolutions' F(3,2) with the fused pixel shuffle
// (wino16_up_conv) against the 2x2 convolution and shuffle in double, with
// every output pixel checked to be written.
// Prints one line per case and a summary; exits 0 when every check holds,
// 1 when one fails, 2 when this CPU runs neither variant.
#include "winograd.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t lcg_state;
static float lcg(float scale) {
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((float)(lcg_state >> 40) / (float)(1 << 24) * 2 - 1) * scale;
}

static void *aligned(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) { perror("posix_memalign"); exit(2); }
    memset(p, 0, bytes);
    return p;
}

// NCHW <-> nChw16c
static void to_blocked(const float *nchw, float *b, int c, int h, int w) {
    for (int k = 0; k < c; k++)
        for (int i = 0; i < h * w; i++) b[((size_t)(k / 16) * h * w + i) * 16 + k % 16] = nchw[(size_t)k * h * w + i];
}
static void from_blocked(const float *b, float *nchw, int c, int h, int w) {
    for (int k = 0; k < c; k++)
        for (int i = 0; i < h * w; i++) nchw[(size_t)k * h * w + i] = b[((size_t)(k / 16) * h * w + i) * 16 + k % 16];
}

// The reference: 3x3, padding 1, in double; then LeakyReLU 0.1 or + prior.
static void direct(const float *x, const float *wt, const float *bias, const float *prior, double *y,
                   int c, int h, int wd, int mode) {
    for (int o = 0; o < c; o++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < wd; j++) {
                double s = bias[o];
                for (int k = 0; k < c; k++)
                    for (int a = 0; a < 3; a++)
                        for (int b = 0; b < 3; b++) {
                            int yy = i + a - 1, xx = j + b - 1;
                            if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                            s += (double)wt[((size_t)o * c + k) * 9 + a * 3 + b] * x[((size_t)k * h + yy) * wd + xx];
                        }
                size_t at = ((size_t)o * h + i) * wd + j;
                y[at] = mode == WINO_LEAKY_RELU ? (s > 0 ? s : 0.1 * s) : s + prior[at];
            }
}

// The transposed convolution as the engine defines it (TransposedConvolution):
// z = conv2x2(x, w2, padding 1) + bias at (H+1) x (W+1), 4 cout channels in
// groups g = a * 2 + b; y[c][2i + a][2j + b] = LeakyReLU(z[g cout + c][i + a][j + b]).
static void direct_up(const float *x, const float *w2, const float *bias, double *y, int cin, int cout, int h, int wd) {
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < cout; c++)
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < wd; j++) {
                        const int o = (a * 2 + b) * cout + c, zi = i + a, zj = j + b;
                        double s = bias[c];
                        for (int k = 0; k < cin; k++)
                            for (int dy = 0; dy < 2; dy++)
                                for (int dx = 0; dx < 2; dx++) {
                                    int yy = zi + dy - 1, xx = zj + dx - 1;
                                    if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                                    s += (double)w2[(((size_t)o * cin + k) * 2 + dy) * 2 + dx] * x[((size_t)k * h + yy) * wd + xx];
                                }
                        y[((size_t)c * 2 * h + 2 * i + a) * 2 * wd + 2 * j + b] = s > 0 ? s : 0.1 * s;
                    }
}

// One upconv case: returns the number of failed checks (and counts them).
static int check_up(int cin, int cout, int h, int w, int avx512, int emu, int *checks) {
    const size_t nin = (size_t)cin * h * w, nout = (size_t)cout * 4 * h * w;
    lcg_state = (uint64_t)(cin * 7 + cout * 3 + h * 10 + w);
    float *w2 = malloc(sizeof(float) * 16 * cin * cout), *bias = malloc(sizeof(float) * cout);
    float *bias4 = aligned(sizeof(float) * 4 * cout), *x = malloc(sizeof(float) * nin), *out = malloc(sizeof(float) * nout);
    double *want = malloc(sizeof(double) * nout);
    const float scale = sqrtf(3.0f / (float)(cin * 4));
    for (int i = 0; i < 16 * cin * cout; i++) w2[i] = lcg(scale);
    for (int i = 0; i < cout; i++) bias[i] = lcg(0.1f);
    for (int g = 0; g < 4; g++) memcpy(bias4 + g * cout, bias, sizeof(float) * cout);
    for (size_t i = 0; i < nin; i++) x[i] = lcg(1);
    direct_up(x, w2, bias, want, cin, cout, h, w);
    float *u = aligned(sizeof(float) * wino_up_weights_floats(cin, cout));
    wino16_up_transform_weights(w2, cin, cout, u);
    float *src = aligned(sizeof(float) * nin);
    to_blocked(x, src, cin, h, w);
    float *results[2] = {NULL, NULL};
    const int variants[2] = {WINO16_AVX512, WINO16_EMULATED};
    const char *names[2] = {"avx512f", "emulated"};
    int failures = 0;
    for (int v = 0; v < 2; v++) {
        if (!(v == 0 ? avx512 : emu)) continue;
        float *dst = aligned(sizeof(float) * nout), *scratch = aligned(sizeof(float) * wino16_up_scratch_floats(cin, cout));
        for (size_t i = 0; i < nout; i++) dst[i] = NAN;  // a pixel never written stays NaN
        const int tiles = wino_up_tile_count(h, w), half = tiles / 2;
        int rc = wino16_up_conv(variants[v], src, dst, u, bias4, cin, cout, h, w, 0, half, scratch);
        rc |= wino16_up_conv(variants[v], src, dst, u, bias4, cin, cout, h, w, half, tiles, scratch);
        from_blocked(dst, out, cout, 2 * h, 2 * w);
        double num = 0, den = 0;
        int unwritten = 0;
        for (size_t i = 0; i < nout; i++) {
            if (isnan(out[i])) { unwritten++; continue; }
            double d = out[i] - want[i];
            num += d * d;
            den += want[i] * want[i];
        }
        const double rel = sqrt(num / (den > 0 ? den : 1));
        const int ok = rc == 0 && unwritten == 0 && rel <= 1e-5;
        (*checks)++;
        failures += !ok;
        printf("%s upconv F(3,2) %s %d -> %d ch %dx%d: relative L2 %.3e vs double, %d pixels unwritten%s\n", ok ? "ok  " : "FAIL",
               names[v], cin, cout, h, w, rel, unwritten, rc ? " (refused)" : "");
        results[v] = malloc(sizeof(float) * nout);
        memcpy(results[v], out, sizeof(float) * nout);
        free(dst);
        free(scratch);
    }
    if (results[0] && results[1]) {
        const int same = memcmp(results[0], results[1], sizeof(float) * nout) == 0;
        (*checks)++;
        failures += !same;
        printf("%s upconv F(3,2) %d -> %d ch %dx%d: avx512f and emulated %s\n", same ? "ok  " : "FAIL", cin, cout, h, w,
               same ? "agree to the bit" : "differ");
    }
    free(results[0]); free(results[1]); free(u); free(src); free(w2); free(bias); free(bias4); free(x); free(out); free(want);
    return failures;
}

int main(int argc, char **argv) {
    (void)argv;
    const int avx512 = wino16_avx512_supported(), emu = wino_cpu_supported();
    printf("wino16_check: avx512f %s, avx2+fma %s\n", avx512 ? "yes" : "no", emu ? "yes" : "no");
    if (!avx512 && !emu) { printf("wino16_check: this CPU runs neither variant\n"); return 2; }
    // argc > 1 (any argument): the small cases only, for a slow emulator.
    static const int shapes[][3] = {  // channels, height, width
        {32, 5, 3}, {32, 17, 19}, {64, 13, 22}, {32, 1, 1}, {128, 12, 20}, {64, 36, 28},
    };
    const int nshapes = argc > 1 ? 4 : (int)(sizeof shapes / sizeof shapes[0]);
    int failures = 0, checks = 0;
    for (int s = 0; s < nshapes; s++)
        for (int m = 2; m <= 6; m += 2)
            for (int k = 0; k < 3; k++) {
                const int mode = k == 2 ? WINO_LEAKY_RELU | WINO_BF16_GEMM : k, bf16 = k == 2, out_mode = mode & 1;
                const int c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
                const size_t n = (size_t)c * h * w;
                lcg_state = (uint64_t)(c * 1000 + h * 10 + w + m);
                float *wt = malloc(sizeof(float) * c * c * 9), *bias = malloc(sizeof(float) * c);
                float *x = malloc(sizeof(float) * n), *prior = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * n);
                double *want = malloc(sizeof(double) * n);
                const float scale = sqrtf(6.0f / (float)(c * 9));
                for (int i = 0; i < c * c * 9; i++) wt[i] = lcg(scale);
                for (int i = 0; i < c; i++) bias[i] = lcg(0.1f);
                for (size_t i = 0; i < n; i++) x[i] = lcg(1), prior[i] = lcg(1);
                direct(x, wt, bias, prior, want, c, h, w, out_mode);

                float *u = aligned(sizeof(float) * wino_weights_floats(m, c, c));
                wino16_transform_weights(m, wt, c, c, u);
                if (bf16) wino_round_bf16(u, wino_weights_floats(m, c, c));
                float *src = aligned(sizeof(float) * n);
                to_blocked(x, src, c, h, w);
                float *results[2] = {NULL, NULL};
                const int variants[2] = {WINO16_AVX512, WINO16_EMULATED};
                const char *names[2] = {"avx512f", "emulated"};
                for (int v = 0; v < 2; v++) {
                    if (!(v == 0 ? avx512 : emu)) continue;
                    float *dst = aligned(sizeof(float) * n), *scratch = aligned(sizeof(float) * wino16_scratch_floats(m, c, c));
                    to_blocked(prior, dst, c, h, w);
                    // Two calls splitting the tiles, as two threads would.
                    const int tiles = wino_tile_count(m, h, w), half = tiles / 2;
                    int rc = wino16_conv3x3(variants[v], m, src, dst, u, bias, c, c, h, w, mode, 0, half, scratch);
                    rc |= wino16_conv3x3(variants[v], m, src, dst, u, bias, c, c, h, w, mode, half, tiles, scratch);
                    from_blocked(dst, out, c, h, w);
                    double num = 0, den = 0;
                    for (size_t i = 0; i < n; i++) {
                        double d = out[i] - want[i];
                        num += d * d;
                        den += want[i] * want[i];
                    }
                    const double rel = sqrt(num / (den > 0 ? den : 1));
                    const int ok = rc == 0 && (bf16 ? rel > 1e-4 && rel <= 1e-1 : rel <= 1e-5);
                    checks++;
                    failures += !ok;
                    printf("%s F(%d,3) %s %d ch %dx%d %s: relative L2 %.3e vs double%s\n", ok ? "ok  " : "FAIL", m,
                           names[v], c, h, w, bf16 ? "leakyReLU, bf16 GEMM" : out_mode == WINO_LEAKY_RELU ? "leakyReLU" : "sum", rel,
                           rc ? " (refused)" : "");
                    results[v] = malloc(sizeof(float) * n);
                    memcpy(results[v], out, sizeof(float) * n);
                    free(dst);
                    free(scratch);
                }
                if (results[0] && results[1]) {
                    const int same = memcmp(results[0], results[1], sizeof(float) * n) == 0;
                    checks++;
                    failures += !same;
                    printf("%s F(%d,3) %d ch %dx%d%s: avx512f and emulated %s\n", same ? "ok  " : "FAIL", m, c, h, w,
                           bf16 ? " bf16 GEMM" : "", same ? "agree to the bit" : "differ");
                }
                free(results[0]); free(results[1]); free(u); free(src);
                free(wt); free(bias); free(x); free(prior); free(out); free(want);
            }
    static const int ups[][4] = {  // cin, cout, height, width: partial tiles (3 does not divide H + 1), 1x1
        {32, 16, 5, 7}, {64, 32, 13, 10}, {32, 16, 1, 1}, {128, 64, 16, 16},
    };
    for (int i = 0; i < (argc > 1 ? 3 : 4); i++)
        failures += check_up(ups[i][0], ups[i][1], ups[i][2], ups[i][3], avx512, emu, &checks);
    printf("wino16_check: %d checks, %d failed%s\n", checks, failures,
           avx512 ? "" : " (no AVX-512F: the emulation only)");
    return failures ? 1 : 0;
}
