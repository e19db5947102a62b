
/*
 * Unit tests of the signing core: the Standard Webhooks specification's
 * test vector, key rotation, and secrets that must be refused.
 */


#include <string.h>

#include "ngx_http_postmark_sign.h"
#include "tap.h"


static const char  vector_secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const char  vector_id[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
static const char  vector_body[] = "{\"test\": 2432232314}";
static const char  vector_sig[] =
    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";


static int
decode(const char *text, ngx_http_postmark_key_t *key)
{
    return ngx_http_postmark_key_decode(text, strlen(text), key);
}


int
main(void)
{
    long                     n;
    char                     out[4 * NGX_HTTP_POSTMARK_SIGNATURE_LEN];
    ngx_http_postmark_key_t  keys[3];

    ok(decode(vector_secret, &keys[0]) == 0 && keys[0].len == 24,
       "the specification's secret decodes to 24 bytes");

    n = ngx_http_postmark_sign(keys, 1, vector_id, strlen(vector_id),
                               1614265330, vector_body, strlen(vector_body),
                               out);
    ok(n == (long) strlen(vector_sig) && memcmp(out, vector_sig, n) == 0,
       "the specification's test vector: %.*s", (int) n, out);

    n = ngx_http_postmark_sign(keys, 1, vector_id, strlen(vector_id),
                               1614265331, vector_body, strlen(vector_body),
                               out);
    ok(n == (long) strlen(vector_sig) && memcmp(out, vector_sig, n) != 0,
       "another timestamp, another signature");

    /* rotation: one signature per secret, in order, one header */

    ok(decode("whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=", &keys[1])
       == 0 && keys[1].len == 32, "a 32-byte secret with padding");
    ok(decode("whsec_" "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
              "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==", &keys[2]) == 0
       && keys[2].len == 64, "a 64-byte secret");

    n = ngx_http_postmark_sign(keys, 3, vector_id, strlen(vector_id),
                               1614265330, vector_body, strlen(vector_body),
                               out);
    ok(n == 3 * NGX_HTTP_POSTMARK_SIGNATURE_LEN - 1,
       "three secrets, three signatures (%ld bytes)", n);
    ok(memcmp(out, vector_sig, strlen(vector_sig)) == 0
       && out[strlen(vector_sig)] == ' '
       && memcmp(out + 48, "v1,", 3) == 0 && memcmp(out + 96, "v1,", 3) == 0,
       "the first is the vector's, each starts with v1,");

    /* secrets that are refused */

    ok(decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &keys[0]) != 0,
       "no whsec_ prefix");
    ok(decode("whsec_", &keys[0]) != 0, "nothing after the prefix");
    ok(decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", &keys[0]) != 0,
       "a length that is not base64's");
    ok(decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa!w", &keys[0]) != 0,
       "a character that is not base64");
    ok(decode("whsec_MfKQ9r8GKY=rTwjUPD8ILPZIo2LaLaSw", &keys[0]) != 0,
       "padding in the middle");
    ok(decode("whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=", &keys[0]) != 0,
       "fewer than 24 bytes");
    ok(decode("whsec_" "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
              "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=", &keys[0]) != 0,
       "65 bytes, more than 64");
    ok(decode("whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &keys[0]) != 0,
       "a space");

    return done_testing();
}
