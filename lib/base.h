/*
 * base.h: the compiler helpers every file of drplay may use.
 */
#ifndef DRPLAY_BASE_H
#define DRPLAY_BASE_H


#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define UNUSED __attribute__((unused))

#endif
