// libFuzzer target for the C shim of PhotoIO (Sources/CImageCodecs/codecs.c).
// One binary per decoder, chosen at compile time (-DFUZZ_JPEG / FUZZ_PNG /
// FUZZ_TIFF), so each corpus stays focused on one format. Every input that
// decodes is encoded again from what the decoder delivered (pixels and, for
// JPEG, the carried APPn/COM markers), because the daemon always does both:
// a decoder that hands back inconsistent sizes would surface in the encoder.
// MC_LIMIT (too many metadata segments or scans) is an ordinary refusal.
// Built by scripts/fuzz.sh with -fsanitize=fuzzer,address,undefined.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "codecs.h"

// Small, so one execution stays fast and a pixel bomb is refused, not allocated.
#define FUZZ_MAX_PIXELS (1u << 20)

#if defined(FUZZ_PNG) || defined(FUZZ_TIFF)
// What a PNG or TIFF decode that claims success must deliver: a real size,
// 1-4 channels of 8 or 16 bits, and pixels whose whole extent is readable
// (ASan checks the first and last byte's allocation).
static void check_decoded(uint32_t width, uint32_t height, int channels, int bit_depth, const void *pixels) {
    if (width == 0 || height == 0 || channels < 1 || channels > 4 || (bit_depth != 8 && bit_depth != 16) || !pixels)
        __builtin_trap();
    uint64_t n = (uint64_t)width * height * (uint64_t)channels * (uint64_t)(bit_depth / 8);
    volatile uint8_t sink = ((const uint8_t *)pixels)[0] ^ ((const uint8_t *)pixels)[n - 1];
    (void)sink;
}
#endif

#if defined(FUZZ_JPEG)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mc_jpeg_image img;
    memset(&img, 0, sizeof img);
    int status = mc_jpeg_decode(data, size, FUZZ_MAX_PIXELS, &img);
    if (status == MC_OK) {
        if (img.width == 0 || img.height == 0 || (img.components != 1 && img.components != 3) || !img.pixels)
            __builtin_trap();  // the decoder claimed success with nothing usable
        uint64_t n = (uint64_t)img.width * img.height * (uint64_t)img.components;
        volatile uint8_t sink = img.pixels[0] ^ img.pixels[n - 1];  // ASan checks the whole extent
        (void)sink;
        // Each kept segment is its own stretch of the file, and there are
        // never more than the limit (codecs.h; issue 16).
        size_t carried = 0;
        for (int i = 0; i < img.marker_count; i++) carried += img.markers[i].length;
        if (carried > size || img.marker_count > MC_MAX_METADATA_SEGMENTS) __builtin_trap();
        uint8_t *out = NULL;
        size_t out_size = 0;
        char message[MC_MESSAGE_SIZE];
        int h[3] = {2, 1, 1}, v[3] = {2, 1, 1};
        if (img.components == 3) { memcpy(h, img.h_samp, sizeof h); memcpy(v, img.v_samp, sizeof v); }
        int e = mc_jpeg_encode(img.pixels, img.width, img.height, img.components, 75, img.progressive,
                               h, v, img.markers, img.marker_count, &out, &out_size, message);
        if (e == MC_OK && (!out || out_size < 4)) __builtin_trap();
        mc_free(out);
    }
    mc_jpeg_image_free(&img);
    return 0;
}
#elif defined(FUZZ_PNG)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mc_png_image img;
    memset(&img, 0, sizeof img);
    int status = mc_png_decode(data, size, FUZZ_MAX_PIXELS, &img);
    if (status == MC_OK) {
        check_decoded(img.width, img.height, img.channels, img.bit_depth, img.pixels);
        uint8_t *out = NULL;
        size_t out_size = 0;
        char message[MC_MESSAGE_SIZE];
        int e = mc_png_encode(img.pixels, img.width, img.height, img.channels, img.bit_depth,
                              img.interlaced, 1, NULL, 0, &out, &out_size, message);
        if (e == MC_OK && (!out || out_size < 8)) __builtin_trap();
        mc_free(out);
    }
    mc_png_image_free(&img);
    return 0;
}
#elif defined(FUZZ_TIFF)
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mc_tiff_image img;
    memset(&img, 0, sizeof img);
    int status = mc_tiff_decode(data, size, FUZZ_MAX_PIXELS, &img);
    if (status == MC_OK) {
        check_decoded(img.width, img.height, img.channels, img.bit_depth, img.pixels);
        uint8_t *out = NULL;
        size_t out_size = 0;
        char message[MC_MESSAGE_SIZE];
        int e = mc_tiff_encode(img.pixels, img.width, img.height, img.channels, img.bit_depth,
                               img.photometric, img.compression, img.predictor, img.extra_sample,
                               img.big_endian, 90, "fuzz", &out, &out_size, message);
        if (e == MC_OK && (!out || out_size < 8)) __builtin_trap();
        mc_free(out);
    }
    mc_tiff_image_free(&img);
    return 0;
}
#else
#error "define FUZZ_JPEG, FUZZ_PNG or FUZZ_TIFF"
#endif
