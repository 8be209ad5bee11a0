// Little CMS 2 (colour conversion between ICC profiles) and zlib (a PNG's
// iCCP profile is deflate-compressed), for PhotoIO's colour profiles.
#include <lcms2.h>
#include <zlib.h>
