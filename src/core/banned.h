/*
 * banned.h - libc calls that are easy to misuse are compile errors in this tree.
 *
 * The build force-includes this header (-include) into every translation unit. The system
 * headers that declare the banned functions are included first, so their declarations are
 * seen before the names become macros; any later use in our code then fails to compile.
 * Use the bounded alternatives: snprintf / fh_buf_appendf, memcpy with a checked length,
 * strtoll / fh_parse_int, gmtime_r / localtime_r.
 */
#ifndef FH_BANNED_H
#define FH_BANNED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FH_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) FH_BANNED(strcpy)
#undef strcat
#define strcat(x, y) FH_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) FH_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) FH_BANNED(strncat)
#undef strtok
#define strtok(x, y) FH_BANNED(strtok)
#undef sprintf
#define sprintf(...) FH_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) FH_BANNED(vsprintf)
#undef gets
#define gets(x) FH_BANNED(gets)
#undef atoi
#define atoi(x) FH_BANNED(atoi)
#undef atol
#define atol(x) FH_BANNED(atol)
#undef atoll
#define atoll(x) FH_BANNED(atoll)
#undef atof
#define atof(x) FH_BANNED(atof)
#undef gmtime
#define gmtime(t) FH_BANNED(gmtime)
#undef localtime
#define localtime(t) FH_BANNED(localtime)
#undef ctime
#define ctime(t) FH_BANNED(ctime)
#undef asctime
#define asctime(t) FH_BANNED(asctime)

#endif
