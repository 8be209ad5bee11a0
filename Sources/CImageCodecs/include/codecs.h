// The C side of PhotoIO: only what Swift cannot do itself.
//
// libjpeg and libpng report errors by longjmp, which must never cross a Swift
// frame, so every call that can fail lives in one of these functions, which
// does its own setjmp and returns a status and the library's message.
// libtiff is opened with per-handle error handlers (TIFFClientOpenExt), so no
// global state is touched and concurrent decodes are safe.
//
// Buffers returned through out-parameters are malloc'd here and released with
// mc_free (or the *_free function of the result struct).
#ifndef MTRNN_CODECS_H
#define MTRNN_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    MC_OK = 0,
    MC_ERROR = 1,        // the library rejected the data; message says why
    MC_UNSUPPORTED = 2,  // valid but a kind we decline (CMYK, 12-bit, ...)
    MC_TOO_LARGE = 3,    // the header claims more pixels than allowed
    MC_NO_MEMORY = 4,
    MC_LIMIT = 5,        // the file's structure exceeds a limit below; message says which
};

#define MC_MESSAGE_SIZE 512

// Limits on what a file's structure may make a decoder hold or do, whatever
// its pixel count (issue 16). The Swift side applies the same ones to PNG
// chunks and TIFF tags.
// - Metadata segments read: JPEG APPn/COM segments (anywhere in the file),
//   PNG chunks other than IDAT, TIFF directory entries. A camera JPEG has
//   about 10; ICC (at most 255 segments by its spec) and extended XMP (a
//   few MB) stay far below. 4096 is also libtiff's own limit on the
//   entries of one directory.
// - Metadata bytes read: what those hold, in total (64 MiB).
// - Carried: what one decoded image may carry into its output (segments
//   and JPEG trailer records, ancillary chunks, tags with those of the
//   EXIF/GPS directories), 4000 and 60 MiB: below the read limits by room
//   for what the encoder adds (the processing note, libtiff's own ~16 tags
//   and their strip offsets), so that every output reads back.
// - Scans: of a progressive (or multi-scan) JPEG; encoders write about 10,
//   and libjpeg-turbo's own tjDecompress stops at 500, as here. Each scan
//   of a 100 MP image costs a pass over all its coefficients.
#define MC_MAX_METADATA_SEGMENTS 4096
#define MC_MAX_METADATA_BYTES 67108864
#define MC_MAX_CARRIED_SEGMENTS 4000
#define MC_MAX_CARRIED_BYTES 62914560
#define MC_MAX_SCANS 500

void mc_free(void *pointer);

// ---- JPEG ----

// Decoding carries the APPn and COM segments before the image data (the
// first SOS) in file order; those after it are counted against the limits
// but not kept.
typedef struct {
    uint8_t code;        // 0xE0...0xEF (APPn) or 0xFE (COM)
    uint32_t length;
    uint8_t *data;       // payload after the 2-byte length field
} mc_jpeg_marker;

typedef struct {
    uint32_t width, height;
    int components;        // 1 or 3 (samples per pixel delivered)
    int progressive;
    int arithmetic;
    int h_samp[3], v_samp[3];
    uint8_t *pixels;       // width*height*components, interleaved
    mc_jpeg_marker *markers;
    int marker_count;
    size_t end_offset;     // bytes up to and including EOI; anything after is a trailer
    char message[MC_MESSAGE_SIZE];
} mc_jpeg_image;

int mc_jpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels, mc_jpeg_image *out);
void mc_jpeg_image_free(mc_jpeg_image *image);

int mc_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int components,
                   int quality, int progressive, const int *h_samp, const int *v_samp,
                   const mc_jpeg_marker *markers, int marker_count,
                   uint8_t **out, size_t *out_size, char *message);

// ---- PNG ----

typedef struct {
    uint32_t width, height;
    int channels;          // delivered: 1..4 (grey or RGB with a tRNS colour key
                           // comes with an explicit alpha channel from the key)
    int bit_depth;         // delivered: 8 or 16 (16-bit in host byte order)
    int source_color_type;
    int source_bit_depth;
    int interlaced;
    void *pixels;
    char message[MC_MESSAGE_SIZE];
} mc_png_image;

int mc_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels, mc_png_image *out);
void mc_png_image_free(mc_png_image *image);

typedef struct {
    char type[4];
    const uint8_t *data;
    uint32_t length;
    int after_idat;
} mc_png_chunk;

int mc_png_encode(const void *pixels, uint32_t width, uint32_t height, int channels,
                  int bit_depth, int interlaced, int compression_level,
                  const mc_png_chunk *chunks, int chunk_count,
                  uint8_t **out, size_t *out_size, char *message);

// ---- TIFF ----

// Decoding delivers 8/16-bit grey, grey+alpha, RGB or RGBA. Palette TIFFs
// (1-8 bits) come out as 8-bit RGB, 1/2/4-bit grey as 8-bit grey (min-is-white
// as stored, photometric 0), YCbCr (JPEG-compressed or not) as RGB
// (photometric 2). compression is the input's, any codec libtiff has.
typedef struct {
    uint32_t width, height;
    int channels;          // delivered: 1..4
    int bit_depth;         // delivered: 8 or 16 (16-bit in host byte order)
    int photometric;
    int compression;
    int predictor;
    int extra_sample;      // ExtraSamples value when channels is 2 or 4
    int big_endian;
    void *pixels;          // contiguous, interleaved
    char message[MC_MESSAGE_SIZE];
} mc_tiff_image;

int mc_tiff_decode(const uint8_t *data, size_t size, uint64_t max_pixels, mc_tiff_image *out);
void mc_tiff_image_free(mc_tiff_image *image);

// compression 7 (JPEG) writes 8-bit RGB as YCbCr 4:2:0 at jpeg_quality;
// software is the complete Software tag, or NULL for none.
int mc_tiff_encode(const void *pixels, uint32_t width, uint32_t height, int channels,
                   int bit_depth, int photometric, int compression, int predictor,
                   int extra_sample, int big_endian, int jpeg_quality, const char *software,
                   uint8_t **out, size_t *out_size, char *message);

#ifdef __cplusplus
}
#endif
#endif
