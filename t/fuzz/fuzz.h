
/*
 * What the fuzz targets share: the check that stops a run at a broken
 * invariant, and what cJSON, their reference parser, refuses that JSON
 * allows.
 */


#ifndef _FUZZ_H_INCLUDED_
#define _FUZZ_H_INCLUDED_


#include <stdint.h>
#include <stdlib.h>
#include <string.h>


static void
check(int cond)
{
    if (!cond) {
        abort();
    }
}


/* "\uD800" to "\uDFFF", in any case: cJSON refuses a lone one */

static inline int
has_surrogate_escape(const uint8_t *data, size_t size)
{
    size_t  i;

    for (i = 0; i + 3 < size; i++) {
        if (data[i] == '\\' && data[i + 1] == 'u'
            && (data[i + 2] | 0x20) == 'd' && data[i + 3] != '\0'
            && strchr("89abcdefABCDEF", data[i + 3]) != NULL)
        {
            return 1;
        }
    }

    return 0;
}


#endif /* _FUZZ_H_INCLUDED_ */
