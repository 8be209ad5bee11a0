#ifndef MTRNN_CDNNL_SHIM_H
#define MTRNN_CDNNL_SHIM_H
// oneDNN 2.6 C API; Debian's libdnnl-dev ships no pkg-config file, so the
// module map links "dnnl" by name.
#include <oneapi/dnnl/dnnl.h>
#endif
