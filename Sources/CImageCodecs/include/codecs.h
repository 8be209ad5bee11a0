#ifndef MTRNN_CODECS_H
#define MTRNN_CODECS_H
#endif
