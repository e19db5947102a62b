
/*
 * The TAP output of the C unit tests: ok() prints one test line, and the
 * plan is printed at the end with done_testing().
 */


#ifndef _TAP_H_INCLUDED_
#define _TAP_H_INCLUDED_


#include <stdarg.h>
#include <stdio.h>


static int  tests, failed;


static void
ok(int cond, const char *fmt, ...)
{
    va_list  ap;

    tests++;

    if (!cond) {
        failed++;
        printf("not ");
    }

    printf("ok %d - ", tests);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}


static int
done_testing(void)
{
    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}


#endif /* _TAP_H_INCLUDED_ */
