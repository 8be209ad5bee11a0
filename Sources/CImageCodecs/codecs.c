// See include/codecs.h for the contract. Every setjmp here guards only state
// that lives in memory reachable through pointers (the out structs and heap
// contexts), never locals changed after setjmp, so nothing needs volatile
// beyond what is marked.
#include "codecs.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <tiffio.h>

void mc_free(void *pointer) { free(pointer); }

static void set_message(char *message, const char *text) {
    snprintf(message, MC_MESSAGE_SIZE, "%s", text);
}

// ============================================================ JPEG

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;
    int status;
} jpeg_error_context;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_error_context *context = (jpeg_error_context *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    set_message(context->message, text);
    int code = cinfo->err->msg_code;
    context->status = (code == JERR_BAD_PRECISION || code == JERR_SOF_UNSUPPORTED) ? MC_UNSUPPORTED
        : code == JERR_OUT_OF_MEMORY ? MC_NO_MEMORY : MC_ERROR;
    longjmp(context->jump, 1);
}

// A truncated file is the common case for a photo that is still being copied
// into the inbox; libjpeg only warns and pads with grey, so make it fatal.
static void jpeg_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_fail(cinfo);
    }
    if (level < 0) cinfo->err->num_warnings++;
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

// The structure's limits are exceeded: fail with MC_LIMIT and this message.
static void jpeg_limit(j_common_ptr cinfo, const char *text) {
    jpeg_error_context *context = (jpeg_error_context *)cinfo->err;
    set_message(context->message, text);
    context->status = MC_LIMIT;
    longjmp(context->jump, 1);
}

// APPn and COM segments are read here rather than by jpeg_save_markers:
// libjpeg appends each saved marker by walking its whole list (quadratic in
// their number) and sets no limit on how many there are. Each is counted,
// and those before the first SOS are kept in the out struct (freed with it
// on failure).
typedef struct {
    mc_jpeg_image *out;
    int capacity;
    int keeping;           // until jpeg_read_header returns
    long segments;
    size_t bytes;
} jpeg_metadata_context;

static unsigned int jpeg_next_byte(j_decompress_ptr cinfo) {
    struct jpeg_source_mgr *src = cinfo->src;
    // The memory source warns JWRN_JPEG_EOF at the end, which jpeg_message makes fatal.
    if (src->bytes_in_buffer == 0 && !(*src->fill_input_buffer)(cinfo)) ERREXIT(cinfo, JERR_CANT_SUSPEND);
    src->bytes_in_buffer--;
    return *src->next_input_byte++;
}

static boolean jpeg_read_metadata_segment(j_decompress_ptr cinfo) {
    jpeg_metadata_context *context = (jpeg_metadata_context *)cinfo->client_data;
    unsigned int length = jpeg_next_byte(cinfo) << 8;
    length |= jpeg_next_byte(cinfo);
    if (length < 2) ERREXIT(cinfo, JERR_BAD_LENGTH);
    length -= 2;
    context->segments++;
    context->bytes += length;
    if (context->segments > MC_MAX_METADATA_SEGMENTS) {
        char text[MC_MESSAGE_SIZE];
        snprintf(text, sizeof(text), "too much metadata: more than %d JPEG metadata segments (APPn/COM; "
                 "a camera writes about 10)", MC_MAX_METADATA_SEGMENTS);
        jpeg_limit((j_common_ptr)cinfo, text);
    }
    if (context->bytes > MC_MAX_METADATA_BYTES) {
        char text[MC_MESSAGE_SIZE];
        snprintf(text, sizeof(text), "too much metadata: more than %d MB in JPEG metadata segments (APPn/COM)",
                 MC_MAX_METADATA_BYTES >> 20);
        jpeg_limit((j_common_ptr)cinfo, text);
    }
    if (!context->keeping) {
        if (length > 0) (*cinfo->src->skip_input_data)(cinfo, (long)length);
        return TRUE;
    }
    mc_jpeg_image *out = context->out;
    if (out->marker_count == context->capacity) {
        int capacity = context->capacity ? context->capacity * 2 : 16;
        mc_jpeg_marker *grown = realloc(out->markers, (size_t)capacity * sizeof(mc_jpeg_marker));
        if (!grown) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 10);
        out->markers = grown;
        context->capacity = capacity;
    }
    uint8_t *data = malloc(length ? length : 1);
    if (!data) ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 11);
    mc_jpeg_marker *marker = &out->markers[out->marker_count++];
    marker->code = (uint8_t)cinfo->unread_marker;
    marker->length = length;
    marker->data = data;
    struct jpeg_source_mgr *src = cinfo->src;
    for (unsigned int done = 0; done < length;) {
        if (src->bytes_in_buffer == 0 && !(*src->fill_input_buffer)(cinfo)) ERREXIT(cinfo, JERR_CANT_SUSPEND);
        size_t n = length - done < src->bytes_in_buffer ? length - done : src->bytes_in_buffer;
        memcpy(data + done, src->next_input_byte, n);
        src->next_input_byte += n;
        src->bytes_in_buffer -= n;
        done += (unsigned int)n;
    }
    // What libjpeg's own APP0/APP14 handling would have noted: the JFIF and
    // Adobe fields decide the colour space it assumes.
    if (cinfo->unread_marker == JPEG_APP0 && length >= 14 && memcmp(data, "JFIF\0", 5) == 0) {
        cinfo->saw_JFIF_marker = TRUE;
        cinfo->JFIF_major_version = data[5];
        cinfo->JFIF_minor_version = data[6];
        cinfo->density_unit = data[7];
        cinfo->X_density = (UINT16)(data[8] << 8 | data[9]);
        cinfo->Y_density = (UINT16)(data[10] << 8 | data[11]);
    } else if (cinfo->unread_marker == JPEG_APP0 + 14 && length >= 12 && memcmp(data, "Adobe", 5) == 0) {
        cinfo->saw_Adobe_marker = TRUE;
        cinfo->Adobe_transform = data[11];
    }
    return TRUE;
}

// Called by libjpeg as it reads (for a multi-scan file, before each chunk
// of every scan): stops at the scan limit, as tjDecompress does. Each scan
// of a progressive JPEG is a pass over all the image's coefficients, so
// without a limit a 1 MB file of tiny scans keeps a 100 MP decode busy
// for many minutes.
static void jpeg_count_scans(j_common_ptr cinfo) {
    if (((j_decompress_ptr)cinfo)->input_scan_number > MC_MAX_SCANS) {
        char text[MC_MESSAGE_SIZE];
        snprintf(text, sizeof(text), "progressive JPEG with more than %d scans (an encoder writes about 10)",
                 MC_MAX_SCANS);
        jpeg_limit(cinfo, text);
    }
}

void mc_jpeg_image_free(mc_jpeg_image *image) {
    if (!image) return;
    free(image->pixels);
    image->pixels = NULL;
    for (int i = 0; i < image->marker_count; i++) free(image->markers[i].data);
    free(image->markers);
    image->markers = NULL;
    image->marker_count = 0;
}

int mc_jpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels, mc_jpeg_image *out) {
    memset(out, 0, sizeof(*out));
    struct jpeg_decompress_struct cinfo;
    jpeg_error_context err;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_fail;
    err.base.emit_message = jpeg_message;
    err.base.output_message = jpeg_silent;
    err.message = out->message;
    err.status = MC_ERROR;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        mc_jpeg_image_free(out);
        return err.status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_metadata_context metadata = {.out = out, .keeping = 1};
    cinfo.client_data = &metadata;
    struct jpeg_progress_mgr progress = {.progress_monitor = jpeg_count_scans};
    cinfo.progress = &progress;
    for (int m = 0; m < 16; m++) jpeg_set_marker_processor(&cinfo, JPEG_APP0 + m, jpeg_read_metadata_segment);
    jpeg_set_marker_processor(&cinfo, JPEG_COM, jpeg_read_metadata_segment);
    jpeg_read_header(&cinfo, TRUE);
    metadata.keeping = 0;

    out->width = cinfo.image_width;
    out->height = cinfo.image_height;
    out->progressive = cinfo.progressive_mode ? 1 : 0;
    out->arithmetic = cinfo.arith_code ? 1 : 0;

    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        set_message(out->message, "CMYK/YCCK JPEG (print separations) is not supported");
        jpeg_destroy_decompress(&cinfo);
        return MC_UNSUPPORTED;
    }
    if (cinfo.num_components != 1 && cinfo.num_components != 3) {
        snprintf(out->message, MC_MESSAGE_SIZE, "JPEG with %d colour components is not supported",
                 cinfo.num_components);
        jpeg_destroy_decompress(&cinfo);
        return MC_UNSUPPORTED;
    }
    if ((uint64_t)cinfo.image_width * (uint64_t)cinfo.image_height > max_pixels) {
        snprintf(out->message, MC_MESSAGE_SIZE, "the header claims %ux%u pixels",
                 cinfo.image_width, cinfo.image_height);
        jpeg_destroy_decompress(&cinfo);
        return MC_TOO_LARGE;
    }
    for (int c = 0; c < cinfo.num_components && c < 3; c++) {
        out->h_samp[c] = cinfo.comp_info[c].h_samp_factor;
        out->v_samp[c] = cinfo.comp_info[c].v_samp_factor;
    }

    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    out->components = cinfo.output_components;
    size_t stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    out->pixels = malloc(stride * cinfo.output_height);
    if (!out->pixels) { jpeg_destroy_decompress(&cinfo); mc_jpeg_image_free(out); return MC_NO_MEMORY; }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out->pixels + stride * cinfo.output_scanline;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    // jpeg_finish_decompress has read up to and including EOI: what the
    // memory source has left is data appended after the image.
    out->end_offset = size - cinfo.src->bytes_in_buffer;
    jpeg_destroy_decompress(&cinfo);
    return MC_OK;
}

int mc_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int components,
                   int quality, int progressive, const int *h_samp, const int *v_samp,
                   const mc_jpeg_marker *markers, int marker_count,
                   uint8_t **out, size_t *out_size, char *message) {
    *out = NULL;
    *out_size = 0;
    struct jpeg_compress_struct cinfo;
    jpeg_error_context err;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_fail;
    err.base.output_message = jpeg_silent;
    err.message = message;
    err.status = MC_ERROR;
    unsigned long size = 0;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(*out);
        *out = NULL;
        *out_size = 0;
        return err.status;
    }
    jpeg_create_compress(&cinfo);
    // jpeg_mem_dest keeps the pointer it is given and updates it as it grows,
    // so it points at the caller's out-parameter, which survives a longjmp.
    jpeg_mem_dest(&cinfo, (unsigned char **)out, &size);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_colorspace(&cinfo, components == 1 ? JCS_GRAYSCALE : JCS_YCbCr);
    jpeg_set_quality(&cinfo, quality, TRUE);
    // The input's own APP0/APP14 are copied verbatim by the caller when they
    // apply; letting libjpeg add its defaults would add tags the input lacked.
    cinfo.write_JFIF_header = FALSE;
    cinfo.write_Adobe_marker = FALSE;
    cinfo.optimize_coding = TRUE;
    if (components == 3 && h_samp && v_samp) {
        for (int c = 0; c < 3; c++) {
            cinfo.comp_info[c].h_samp_factor = h_samp[c];
            cinfo.comp_info[c].v_samp_factor = v_samp[c];
        }
    }
    if (progressive) jpeg_simple_progression(&cinfo);
    jpeg_start_compress(&cinfo, TRUE);
    for (int i = 0; i < marker_count; i++) {
        jpeg_write_marker(&cinfo, markers[i].code, markers[i].data, markers[i].length);
    }
    size_t stride = (size_t)width * (size_t)components;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + stride * cinfo.next_scanline);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out_size = size;
    return MC_OK;
}

// ============================================================ PNG

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t position;
    char *message;
} png_read_context;

static void png_fail(png_structp png, png_const_charp text) {
    char *message = (char *)png_get_error_ptr(png);
    set_message(message, text);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp text) { (void)png; (void)text; }

static void png_read_memory(png_structp png, png_bytep buffer, size_t length) {
    png_read_context *context = (png_read_context *)png_get_io_ptr(png);
    if (length > context->size - context->position) {
        png_error(png, "unexpected end of file (truncated)");
    }
    memcpy(buffer, context->data + context->position, length);
    context->position += length;
}

void mc_png_image_free(mc_png_image *image) {
    if (!image) return;
    free(image->pixels);
    image->pixels = NULL;
}

// Ancillary chunks are carried over byte-for-byte by the Swift side, which
// walks the chunk list itself; libpng need not parse (and possibly reject)
// them, so it is told to discard them.
static const png_byte ignored_chunks[] =
    "iCCP\0sRGB\0gAMA\0cHRM\0pHYs\0tEXt\0zTXt\0iTXt\0eXIf\0tIME\0bKGD\0hIST\0sBIT\0sPLT\0oFFs\0pCAL\0sCAL\0";

int mc_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels, mc_png_image *out) {
    memset(out, 0, sizeof(*out));
    png_read_context *context = calloc(1, sizeof(png_read_context));
    png_bytepp volatile rows = NULL;
    if (!context) return MC_NO_MEMORY;
    context->data = data;
    context->size = size;
    context->message = out->message;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, out->message, png_fail, png_warn);
    if (!png) { free(context); set_message(out->message, "libpng could not start"); return MC_NO_MEMORY; }
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); free(context); return MC_NO_MEMORY; }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(context);
        free(rows);
        mc_png_image_free(out);
        return MC_ERROR;
    }
    png_set_read_fn(png, context, png_read_memory);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ignored_chunks,
                                (int)(sizeof(ignored_chunks) / 5));
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    out->width = width;
    out->height = height;
    out->source_color_type = color_type;
    out->source_bit_depth = bit_depth;
    out->interlaced = png_get_interlace_type(png, info) != PNG_INTERLACE_NONE;
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        snprintf(out->message, MC_MESSAGE_SIZE, "the header claims %ux%u pixels", width, height);
        png_destroy_read_struct(&png, &info, NULL);
        free(context);
        return MC_TOO_LARGE;
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
        if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    } else if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    // A colour key (tRNS on grey or RGB) becomes an explicit alpha channel:
    // deblurred values would no longer match the key (and a key below 8 bits
    // would not match the widened samples), so only an alpha channel keeps
    // exactly the transparent set.
    if ((color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_RGB)
        && png_get_valid(png, info, PNG_INFO_tRNS)) {
        png_set_tRNS_to_alpha(png);
    }
    if (bit_depth == 16) png_set_swap(png);
    if (out->interlaced) png_set_interlace_handling(png);
    png_read_update_info(png, info);
    out->channels = png_get_channels(png, info);
    out->bit_depth = png_get_bit_depth(png, info);
    size_t stride = png_get_rowbytes(png, info);
    out->pixels = malloc(stride * height);
    rows = malloc(sizeof(png_bytep) * height);
    if (!out->pixels || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++) rows[y] = (png_bytep)out->pixels + stride * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    free(context);
    return MC_OK;
}

typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
} growing_buffer;

static int buffer_reserve(growing_buffer *buffer, size_t needed) {
    if (needed <= buffer->capacity) return 1;
    size_t capacity = buffer->capacity ? buffer->capacity : 65536;
    while (capacity < needed) capacity *= 2;
    uint8_t *grown = realloc(buffer->data, capacity);
    if (!grown) return 0;
    buffer->data = grown;
    buffer->capacity = capacity;
    return 1;
}

static void png_write_memory(png_structp png, png_bytep data, size_t length) {
    growing_buffer *buffer = (growing_buffer *)png_get_io_ptr(png);
    if (!buffer_reserve(buffer, buffer->size + length)) png_error(png, "out of memory");
    memcpy(buffer->data + buffer->size, data, length);
    buffer->size += length;
}

static void png_flush_memory(png_structp png) { (void)png; }

int mc_png_encode(const void *pixels, uint32_t width, uint32_t height, int channels,
                  int bit_depth, int interlaced, int compression_level,
                  const mc_png_chunk *chunks, int chunk_count,
                  uint8_t **out, size_t *out_size, char *message) {
    *out = NULL;
    *out_size = 0;
    growing_buffer *buffer = calloc(1, sizeof(growing_buffer));
    png_bytepp volatile rows = NULL;
    if (!buffer) return MC_NO_MEMORY;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, message, png_fail, png_warn);
    if (!png) { free(buffer); set_message(message, "libpng could not start"); return MC_NO_MEMORY; }
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_write_struct(&png, NULL); free(buffer); return MC_NO_MEMORY; }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(buffer->data);
        free(buffer);
        free(rows);
        return MC_ERROR;
    }
    png_set_write_fn(png, buffer, png_write_memory, png_flush_memory);
    static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                                 PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
    if (channels < 1 || channels > 4) png_error(png, "channel count must be 1 to 4");
    png_set_IHDR(png, info, width, height, bit_depth, types[channels],
                 interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, compression_level);
    png_write_info(png, info);
    for (int i = 0; i < chunk_count; i++) {
        if (chunks[i].after_idat) continue;
        png_byte name[5] = {0};
        memcpy(name, chunks[i].type, 4);
        png_write_chunk(png, name, chunks[i].data, chunks[i].length);
    }
    if (bit_depth == 16) png_set_swap(png);
    if (interlaced) png_set_interlace_handling(png);
    size_t stride = (size_t)width * (size_t)channels * (size_t)(bit_depth / 8);
    rows = malloc(sizeof(png_bytep) * (height ? height : 1));
    if (!rows) png_error(png, "out of memory");
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)pixels + stride * y;
    png_write_image(png, rows);
    for (int i = 0; i < chunk_count; i++) {
        if (!chunks[i].after_idat) continue;
        png_byte name[5] = {0};
        memcpy(name, chunks[i].type, 4);
        png_write_chunk(png, name, chunks[i].data, chunks[i].length);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    *out = buffer->data;
    *out_size = buffer->size;
    free(buffer);
    return MC_OK;
}

// ============================================================ TIFF

typedef struct {
    growing_buffer buffer;   // for writing
    const uint8_t *data;     // for reading
    size_t size;
    size_t position;
    int writing;
    char *message;
    int failed;
} tiff_context;

static int tiff_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    tiff_context *context = (tiff_context *)user;
    // A directory entry with a tag libtiff cannot type (tag 0, in libtiff's own
    // ojpeg_single_strip_no_rowsperstrip.tiff) is reported as an error but only
    // skipped; the image is intact, so it is not a failure (Swift drops tag 0).
    if (module && strcmp(module, "TIFFFetchNormalTag") == 0 && strstr(fmt, "TIFF_SETGET_UNDEFINED")) return 1;
    if (!context->failed) {
        char text[MC_MESSAGE_SIZE];
        vsnprintf(text, sizeof(text), fmt, ap);
        snprintf(context->message, MC_MESSAGE_SIZE, "%s: %s", module ? module : "libtiff", text);
    }
    context->failed = 1;
    return 1;
}

static int tiff_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)user; (void)module; (void)fmt; (void)ap;
    return 1;
}

static tmsize_t tiff_read(thandle_t handle, void *buf, tmsize_t length) {
    tiff_context *c = (tiff_context *)handle;
    size_t size = c->writing ? c->buffer.size : c->size;
    const uint8_t *data = c->writing ? c->buffer.data : c->data;
    if (c->position >= size) return 0;
    size_t n = (size_t)length;
    if (n > size - c->position) n = size - c->position;
    memcpy(buf, data + c->position, n);
    c->position += n;
    return (tmsize_t)n;
}

static tmsize_t tiff_write(thandle_t handle, void *buf, tmsize_t length) {
    tiff_context *c = (tiff_context *)handle;
    if (!c->writing) return -1;
    size_t end = c->position + (size_t)length;
    if (!buffer_reserve(&c->buffer, end)) return -1;
    if (c->position > c->buffer.size) memset(c->buffer.data + c->buffer.size, 0, c->position - c->buffer.size);
    memcpy(c->buffer.data + c->position, buf, (size_t)length);
    c->position = end;
    if (end > c->buffer.size) c->buffer.size = end;
    return length;
}

static toff_t tiff_seek(thandle_t handle, toff_t offset, int whence) {
    tiff_context *c = (tiff_context *)handle;
    size_t size = c->writing ? c->buffer.size : c->size;
    uint64_t base = whence == SEEK_CUR ? c->position : whence == SEEK_END ? size : 0;
    c->position = (size_t)(base + offset);
    return (toff_t)c->position;
}

static int tiff_close(thandle_t handle) { (void)handle; return 0; }

static toff_t tiff_size(thandle_t handle) {
    tiff_context *c = (tiff_context *)handle;
    return (toff_t)(c->writing ? c->buffer.size : c->size);
}

static int tiff_map(thandle_t handle, void **base, toff_t *size) {
    (void)handle; (void)base; (void)size;
    return 0;
}

static void tiff_unmap(thandle_t handle, void *base, toff_t size) {
    (void)handle; (void)base; (void)size;
}

static TIFF *tiff_open(tiff_context *context, const char *mode) {
    TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
    if (!options) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(options, tiff_error, context);
    TIFFOpenOptionsSetWarningHandlerExtR(options, tiff_warning, context);
    TIFF *tif = TIFFClientOpenExt("memory", mode, (thandle_t)context, tiff_read, tiff_write,
                                  tiff_seek, tiff_close, tiff_size, tiff_map, tiff_unmap, options);
    TIFFOpenOptionsFree(options);
    return tif;
}

void mc_tiff_image_free(mc_tiff_image *image) {
    if (!image) return;
    free(image->pixels);
    image->pixels = NULL;
}

static int tiff_decline(TIFF *tif, mc_tiff_image *out, const char *text) {
    set_message(out->message, text);
    TIFFClose(tif);
    return MC_UNSUPPORTED;
}

static int tiff_failed(TIFF *tif, tiff_context *context, mc_tiff_image *out, const char *fallback) {
    if (!context->failed) set_message(out->message, fallback);
    if (tif) TIFFClose(tif);
    mc_tiff_image_free(out);
    return MC_ERROR;
}

// Palette, 1/2/4-bit grey and YCbCr through libtiff's RGBA reader, into
// 8-bit RGB (palette, YCbCr) or 8-bit grey. Rows stay in stored order
// (the Orientation tag is carried, not applied). Min-is-white grey is handed
// back as stored (inverted) with photometric 0, like 8-bit min-is-white.
static int tiff_expand(TIFF *tif, tiff_context *context, mc_tiff_image *out, int grey) {
    char emsg[1024] = {0};
    TIFFRGBAImage img;
    if (!TIFFRGBAImageOK(tif, emsg) || !TIFFRGBAImageBegin(&img, tif, 1, emsg)) {
        if (!context->failed) set_message(out->message, emsg[0] ? emsg : "libtiff cannot convert this TIFF");
        TIFFClose(tif);
        mc_tiff_image_free(out);
        return context->failed ? MC_ERROR : MC_UNSUPPORTED;
    }
    img.req_orientation = img.orientation;
    uint32_t width = out->width, height = out->height;
    size_t count = (size_t)width * (size_t)height;
    uint32_t *raster = malloc((count ? count : 1) * sizeof(uint32_t));
    int channels = grey ? 1 : 3;
    out->pixels = malloc((count ? count : 1) * (size_t)channels);
    if (!raster || !out->pixels) {
        free(raster);
        TIFFRGBAImageEnd(&img);
        TIFFClose(tif);
        mc_tiff_image_free(out);
        return MC_NO_MEMORY;
    }
    int ok = TIFFRGBAImageGet(&img, raster, width, height) && !context->failed;
    TIFFRGBAImageEnd(&img);
    if (!ok) {
        free(raster);
        return tiff_failed(tif, context, out, "cannot read the image data");
    }
    uint8_t *pixels = out->pixels;
    int white = out->photometric == PHOTOMETRIC_MINISWHITE;
    for (size_t i = 0; i < count; i++) {
        uint32_t v = raster[i];
        if (grey) {
            pixels[i] = white ? (uint8_t)(255 - TIFFGetR(v)) : (uint8_t)TIFFGetR(v);
        } else {
            pixels[3 * i] = (uint8_t)TIFFGetR(v);
            pixels[3 * i + 1] = (uint8_t)TIFFGetG(v);
            pixels[3 * i + 2] = (uint8_t)TIFFGetB(v);
        }
    }
    free(raster);
    out->channels = channels;
    out->bit_depth = 8;
    out->extra_sample = 0;
    if (!grey) out->photometric = PHOTOMETRIC_RGB;
    TIFFClose(tif);
    return MC_OK;
}

int mc_tiff_decode(const uint8_t *data, size_t size, uint64_t max_pixels, mc_tiff_image *out) {
    memset(out, 0, sizeof(*out));
    tiff_context context = {0};
    context.data = data;
    context.size = size;
    context.message = out->message;
    // "m": read through tiff_read, never memory-map (there is no file).
    TIFF *tif = tiff_open(&context, "rm");
    if (!tif) return tiff_failed(NULL, &context, out, "not a readable TIFF");
    out->big_endian = TIFFIsBigEndian(tif) ? 1 : 0;

    // A second directory is a page unless it is a reduced-resolution preview.
    tdir_t directories = TIFFNumberOfDirectories(tif);
    for (tdir_t d = 1; d < directories; d++) {
        uint32_t subfile = 0;
        if (!TIFFSetDirectory(tif, d)) break;
        TIFFGetField(tif, TIFFTAG_SUBFILETYPE, &subfile);
        if (!(subfile & FILETYPE_REDUCEDIMAGE)) {
            return tiff_decline(tif, out, "multi-page TIFF is not supported");
        }
    }
    if (!TIFFSetDirectory(tif, 0)) return tiff_failed(tif, &context, out, "cannot read the first directory");

    uint32_t width = 0, height = 0;
    uint16_t bits = 1, spp = 1, photometric = 0, compression = 1, planar = 1, format = 1, predictor = 1;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &width);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &height);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bits);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &format);
    TIFFGetField(tif, TIFFTAG_COMPRESSION, &compression);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric)) {
        return tiff_decline(tif, out, "TIFF without a Photometric tag is not supported");
    }
    out->width = width;
    out->height = height;
    out->channels = spp;
    out->bit_depth = bits;
    out->photometric = photometric;
    out->compression = compression;
    // Any codec this libtiff was built with is read (JPEG, old-style JPEG,
    // CCITT fax, ZSTD, WebP, ...); the Swift side picks what to write.
    if (compression != COMPRESSION_NONE && !TIFFIsCODECConfigured(compression)) {
        char text[128];
        snprintf(text, sizeof(text), "TIFF compression %u is not supported by this libtiff", compression);
        return tiff_decline(tif, out, text);
    }
    if (compression == COMPRESSION_LZW || compression == COMPRESSION_ADOBE_DEFLATE ||
        compression == COMPRESSION_DEFLATE) {
        TIFFGetFieldDefaulted(tif, TIFFTAG_PREDICTOR, &predictor);
    }
    out->predictor = predictor;
    if (photometric == PHOTOMETRIC_LOGLUV || photometric == PHOTOMETRIC_LOGL) {
        return tiff_decline(tif, out, "LogLuv (high dynamic range) TIFF is not supported");
    }
    if (format != SAMPLEFORMAT_UINT) {
        return tiff_decline(tif, out, "TIFF with signed or floating-point samples is not supported");
    }
    // JPEG-compressed YCbCr: libjpeg converts to RGB, so it reads as RGB.
    if (photometric == PHOTOMETRIC_YCBCR && compression == COMPRESSION_JPEG && planar == PLANARCONFIG_CONTIG &&
        bits == 8 && spp == 3) {
        if (!TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB)) {
            return tiff_failed(tif, &context, out, "cannot convert JPEG YCbCr to RGB");
        }
        photometric = PHOTOMETRIC_RGB;
        out->photometric = photometric;
    }
    int grey = photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE;
    int native = (bits == 8 || bits == 16) &&
                 ((grey && (spp == 1 || spp == 2)) || (photometric == PHOTOMETRIC_RGB && (spp == 3 || spp == 4)));
    // Expanded to 8 bits through libtiff's RGBA reader, as PNG does: palette
    // (1-8 bits) to RGB, 1/2/4-bit grey to 8-bit grey, other YCbCr to RGB.
    int expand = !native && spp == 1 &&
                 ((photometric == PHOTOMETRIC_PALETTE && bits <= 8) || (grey && bits < 8));
    if (!native && photometric == PHOTOMETRIC_YCBCR && spp == 3 && bits == 8) expand = 1;
    if (!native && !expand) {
        char text[200];
        if (bits != 8 && bits != 16 && (grey || photometric == PHOTOMETRIC_RGB)) {
            snprintf(text, sizeof(text), "%u-bit %s TIFF is not supported (only 1, 2, 4, 8 and 16 bits per sample)",
                     bits, grey ? "grey" : "RGB");
        } else {
            snprintf(text, sizeof(text),
                     "TIFF with photometric interpretation %u, %u samples of %u bits per pixel is not supported "
                     "(only grey, grey+alpha, RGB, RGBA, palette, YCbCr)", photometric, spp, bits);
        }
        return tiff_decline(tif, out, text);
    }
    if (native && (spp == 2 || spp == 4)) {
        uint16_t count = 0;
        uint16_t *values = NULL;
        if (TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &count, &values) && count == 1) {
            out->extra_sample = values[0];
        } else {
            return tiff_decline(tif, out, "TIFF with an extra sample that is not one alpha channel is not supported");
        }
    }
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        snprintf(out->message, MC_MESSAGE_SIZE, "the header claims %ux%u pixels", width, height);
        TIFFClose(tif);
        return MC_TOO_LARGE;
    }
    if (expand) return tiff_expand(tif, &context, out, grey);

    size_t bytes = bits / 8;
    size_t pixel = bytes * spp;
    size_t stride = (size_t)width * pixel;
    out->pixels = malloc(stride * (height ? height : 1));
    if (!out->pixels) { TIFFClose(tif); return MC_NO_MEMORY; }
    uint8_t *image = out->pixels;
    int separate = planar == PLANARCONFIG_SEPARATE;
    int planes = separate ? spp : 1;

    if (TIFFIsTiled(tif)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
        tmsize_t tile_size = TIFFTileSize(tif);
        if (tw == 0 || th == 0 || tile_size <= 0) return tiff_failed(tif, &context, out, "bad tile size");
        // The pixel limit bounds the image, not its tiles: a 2x2 image may claim
        // 0x33000004-wide tiles and have us allocate gigabytes (found by fuzzing).
        if ((uint64_t)tw * (uint64_t)th > max_pixels) {
            snprintf(out->message, MC_MESSAGE_SIZE, "the TIFF claims tiles of %ux%u pixels", tw, th);
            TIFFClose(tif);
            mc_tiff_image_free(out);
            return MC_TOO_LARGE;
        }
        uint8_t *tile = malloc((size_t)tile_size);
        if (!tile) { TIFFClose(tif); mc_tiff_image_free(out); return MC_NO_MEMORY; }
        size_t tile_pixel = separate ? bytes : pixel;
        for (int s = 0; s < planes; s++)
            for (uint32_t ty = 0; ty < height; ty += th)
                for (uint32_t tx = 0; tx < width; tx += tw) {
                    if (TIFFReadTile(tif, tile, tx, ty, 0, (uint16_t)s) < 0) {
                        free(tile);
                        return tiff_failed(tif, &context, out, "cannot read a tile");
                    }
                    for (uint32_t y = ty; y < ty + th && y < height; y++)
                        for (uint32_t x = tx; x < tx + tw && x < width; x++) {
                            const uint8_t *src = tile + ((size_t)(y - ty) * tw + (x - tx)) * tile_pixel;
                            uint8_t *dst = image + (size_t)y * stride + (size_t)x * pixel;
                            if (separate) memcpy(dst + (size_t)s * bytes, src, bytes);
                            else memcpy(dst, src, pixel);
                        }
                }
        free(tile);
    } else {
        tmsize_t line = TIFFScanlineSize(tif);
        uint8_t *row = malloc(line > 0 ? (size_t)line : 1);
        if (!row) { TIFFClose(tif); mc_tiff_image_free(out); return MC_NO_MEMORY; }
        for (int s = 0; s < planes; s++)
            for (uint32_t y = 0; y < height; y++) {
                if (TIFFReadScanline(tif, separate ? row : image + (size_t)y * stride, y, (uint16_t)s) < 0) {
                    free(row);
                    return tiff_failed(tif, &context, out, "cannot read a scanline");
                }
                if (separate) {
                    uint8_t *dst = image + (size_t)y * stride + (size_t)s * bytes;
                    for (uint32_t x = 0; x < width; x++) memcpy(dst + (size_t)x * pixel, row + (size_t)x * bytes, bytes);
                }
            }
        free(row);
    }
    if (context.failed) return tiff_failed(tif, &context, out, "libtiff reported an error");
    TIFFClose(tif);
    return MC_OK;
}

int mc_tiff_encode(const void *pixels, uint32_t width, uint32_t height, int channels,
                   int bit_depth, int photometric, int compression, int predictor,
                   int extra_sample, int big_endian, int jpeg_quality, const char *software,
                   uint8_t **out, size_t *out_size, char *message) {
    *out = NULL;
    *out_size = 0;
    tiff_context *context = calloc(1, sizeof(tiff_context));
    if (!context) return MC_NO_MEMORY;
    context->writing = 1;
    context->message = message;
    TIFF *tif = tiff_open(context, big_endian ? "wb" : "wl");
    if (!tif) {
        if (!context->failed) set_message(message, "libtiff could not start");
        free(context->buffer.data);
        free(context);
        return MC_ERROR;
    }
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, width);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, height);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)bit_depth);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)channels);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, (uint16_t)photometric);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, (uint16_t)PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, (uint16_t)compression);
    if (predictor > 1) TIFFSetField(tif, TIFFTAG_PREDICTOR, (uint16_t)predictor);
    if (compression == COMPRESSION_JPEG) {
        // The codec's pseudo-tags exist only once the compression is set.
        TIFFSetField(tif, TIFFTAG_JPEGQUALITY, jpeg_quality);
        if (photometric == PHOTOMETRIC_RGB && channels == 3) {
            // As JPEG-in-TIFF writers do: YCbCr 4:2:0, libjpeg converting from RGB.
            TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, (uint16_t)PHOTOMETRIC_YCBCR);
            TIFFSetField(tif, TIFFTAG_YCBCRSUBSAMPLING, (uint16_t)2, (uint16_t)2);
            TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
        }
    }
    if (channels == 2 || channels == 4) {
        uint16_t extra = (uint16_t)extra_sample;
        TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, (uint16_t)1, &extra);
    }
    if (software) TIFFSetField(tif, TIFFTAG_SOFTWARE, software);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(tif, 0));
    size_t stride = (size_t)width * (size_t)channels * (size_t)(bit_depth / 8);
    // The predictor differences the row in place, and the caller's pixels are
    // const, so each row goes through a scratch copy.
    uint8_t *row = malloc(stride ? stride : 1);
    int ok = row && !context->failed;
    for (uint32_t y = 0; ok && y < height; y++) {
        memcpy(row, (const uint8_t *)pixels + stride * y, stride);
        ok = TIFFWriteScanline(tif, row, y, 0) >= 0 && !context->failed;
    }
    free(row);
    if (ok) ok = TIFFWriteDirectory(tif) && !context->failed;
    TIFFClose(tif);
    if (!ok || context->failed) {
        if (!context->failed) set_message(message, "libtiff could not write the image");
        free(context->buffer.data);
        free(context);
        return MC_ERROR;
    }
    *out = context->buffer.data;
    *out_size = context->buffer.size;
    free(context);
    return MC_OK;
}
