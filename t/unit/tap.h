
/*
 * The TAP output of the C unit tests: ok() prints one test line, and the
 * plan is printed at the end with done_testing().
 */


#ifndef _TAP_H_INCLUDED_
#define _TAP_H_INCLUDED_


#include <stdarg.h>
#include <stdio.h>


static int  tests, failed;


/* a test line stays one line: control bytes are shown as \xNN */

static void
ok(int cond, const char *fmt, ...)
{
    char           text[1024];
    va_list        ap;
    unsigned char *c;

    tests++;

    if (!cond) {
        failed++;
        printf("not ");
    }

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);

    printf("ok %d - ", tests);

    for (c = (unsigned char *) text; *c; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            printf("\\x%02x", *c);

        } else {
            putchar(*c);
        }
    }

    printf("\n");
}


static int
done_testing(void)
{
    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


#endif /* _TAP_H_INCLUDED_ */
