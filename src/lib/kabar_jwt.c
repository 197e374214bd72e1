/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kabar_jwt.c - verifying the compact RS256 JWS of a dynamic webhook.
 *
 * The algorithm is ours to choose, not the token's: anything but "RS256"
 * in its header is refused before a key is even looked up, which closes the
 * classic holes ("alg":"none", and "HS256" keyed with the public key). The
 * key comes from the JWKS by kid, the signature is checked by OpenSSL
 * (RSASSA-PKCS1-v1_5 with SHA-256), and only then are the claims read:
 * exp, iat (= webhook-timestamp, whose tolerance kabar_verify() checked),
 * iss and aud when configured, webhook_id against the header, and
 * body_sha256 against the body we were actually given, so that a valid
 * token cannot carry another body.
 */
#include <math.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rsa.h>

#include "common/b64.h"
#include "lib/kabar_int.h"

#define JWT_HEADER_MAX 4096
#define JWT_SIG_MAX 1024            /* an 8192-bit RSA signature */
#define JWT_SHA256_B64_LEN 43

/* Decode the base64url part s[0..len) and parse it as a JSON object. NULL
 * when it is not one. */
static json_t *jwt_decode_json(const char *s, size_t len, size_t cap)
{
    uint8_t *buf;
    json_t *obj;
    int n;

    if (len == 0 || len > B64_ENCODED_SIZE(cap))
        return NULL;
    buf = malloc(len);      /* decoding never grows */
    if (buf == NULL)
        return NULL;
    n = b64url_decode(s, len, buf, len);
    obj = n > 0 ? kabar__json_parse((const char *)buf, (size_t)n) : NULL;
    free(buf);
    if (obj != NULL && !json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Check the protected header and return its kid (pointing into header).
 * KABAR_EALG for any algorithm but RS256; KABAR_ETOKEN for a header we do
 * not understand. */
static kabar_err jwt_check_header(const json_t *header, const char **kid)
{
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const json_t *typ = json_object_get(header, "typ");

    if (alg == NULL || strcmp(alg, "RS256") != 0)
        return KABAR_EALG;
    /* A critical extension we do not implement must not be ignored
     * (RFC 7515 §4.1.11); kabard never sends one. */
    if (json_object_get(header, "crit") != NULL)
        return KABAR_ETOKEN;
    if (typ != NULL && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
        return KABAR_ETOKEN;
    *kid = json_string_value(json_object_get(header, "kid"));
    if (*kid == NULL || (*kid)[0] == '\0')
        return KABAR_EKID;
    return KABAR_OK;
}

/* RSASSA-PKCS1-v1_5 SHA-256 over input[0..len). KABAR_OK or KABAR_ENOMATCH. */
static kabar_err jwt_check_signature(EVP_PKEY *key, const char *input, size_t len,
                                     const uint8_t *sig, size_t siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    kabar_err rc = KABAR_ENOMATCH;

    if (md == NULL)
        return KABAR_ENOMEM;
    if (EVP_PKEY_get_id(key) == EVP_PKEY_RSA && (int)siglen == EVP_PKEY_get_size(key) &&
        EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, key, NULL) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
        EVP_DigestVerify(md, sig, siglen, (const uint8_t *)input, len) == 1)
        rc = KABAR_OK;
    EVP_MD_CTX_free(md);
    return rc;
}

/* A numeric date claim (integer, or a whole real). -1 when absent or not
 * one. */
static int jwt_claim_time(const json_t *claims, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(claims, name);
    double d;

    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (!json_is_real(v))
        return -1;
    d = json_real_value(v);
    if (!isfinite(d) || d != floor(d) || fabs(d) > 1e15)
        return -1;
    *out = (int64_t)d;
    return 0;
}

/* Is aud (a string or an array of strings) or one of its members want? */
static bool jwt_audience_has(const json_t *aud, const char *want)
{
    const json_t *item;
    size_t i;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud))
        return false;
    json_array_foreach(aud, i, item) {
        if (json_is_string(item) && strcmp(json_string_value(item), want) == 0)
            return true;
    }
    return false;
}

/* Does body_sha256 name the SHA-256 of body? */
static bool jwt_body_matches(const json_t *claims, const void *body, size_t len)
{
    const char *claimed = json_string_value(json_object_get(claims, "body_sha256"));
    uint8_t digest[32];
    char ours[B64_ENCODED_SIZE(32)];
    unsigned int dlen = 0;

    if (claimed == NULL || strlen(claimed) != JWT_SHA256_B64_LEN)
        return false;
    if (EVP_Digest(body, len, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32 ||
        b64url_encode(digest, sizeof(digest), ours, sizeof(ours)) != JWT_SHA256_B64_LEN)
        return false;
    return CRYPTO_memcmp(ours, claimed, JWT_SHA256_B64_LEN) == 0;
}

/* The claims of a token whose signature verified. */
static kabar_err jwt_check_claims(const kabar_verifier *v, const json_t *claims,
                                  const char *id, int64_t ts, int64_t now, const void *body,
                                  size_t len)
{
    const char *iss, *wid;
    int64_t exp, iat, nbf;

    if (jwt_claim_time(claims, "exp", &exp) != 0)
        return KABAR_ETOKEN;
    if (now >= exp)
        return KABAR_EEXPIRED;
    if (jwt_claim_time(claims, "nbf", &nbf) == 0 && now + v->tolerance < nbf)
        return KABAR_ETOONEW;
    if (jwt_claim_time(claims, "iat", &iat) != 0 || iat != ts)
        return KABAR_EIAT;
    if (v->issuer != NULL) {
        iss = json_string_value(json_object_get(claims, "iss"));
        if (iss == NULL || strcmp(iss, v->issuer) != 0)
            return KABAR_EISS;
    }
    if (v->audience != NULL && !jwt_audience_has(json_object_get(claims, "aud"), v->audience))
        return KABAR_EAUD;
    wid = json_string_value(json_object_get(claims, "webhook_id"));
    if (wid == NULL || strcmp(wid, id) != 0)
        return KABAR_EWEBHOOKID;
    if (!jwt_body_matches(claims, body, len))
        return KABAR_EBODY;
    return KABAR_OK;
}

kabar_err kabar__jwt_check(const kabar_verifier *v, const char *id, int64_t ts,
                           const char *token, const void *body, size_t len, int64_t now,
                           json_t **claims_out)
{
    size_t tlen = strlen(token), hlen, plen, slen;
    const char *dot1, *dot2, *kid = NULL;
    json_t *header = NULL, *claims = NULL;
    uint8_t sig[JWT_SIG_MAX];
    EVP_PKEY *key = NULL;
    int n;
    kabar_err rc;

    if (tlen > KABAR__TOKEN_MAX)
        return KABAR_ETOKEN;
    dot1 = strchr(token, '.');
    dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
        return KABAR_ETOKEN;
    hlen = (size_t)(dot1 - token);
    plen = (size_t)(dot2 - dot1 - 1);
    slen = tlen - (size_t)(dot2 + 1 - token);

    header = jwt_decode_json(token, hlen, JWT_HEADER_MAX);
    if (header == NULL)
        return KABAR_ETOKEN;
    if ((rc = jwt_check_header(header, &kid)) != KABAR_OK)
        goto out;
    n = slen > 0 ? b64url_decode(dot2 + 1, slen, sig, sizeof(sig)) : -1;
    if (n <= 0) {
        rc = KABAR_ENOMATCH;
        goto out;
    }
    if ((rc = kabar__jwks_key(v->jwks, kid, now, &key)) != KABAR_OK)
        goto out;
    if ((rc = jwt_check_signature(key, token, hlen + 1 + plen, sig, (size_t)n)) != KABAR_OK)
        goto out;
    claims = jwt_decode_json(dot1 + 1, plen, KABAR__TOKEN_MAX);
    if (claims == NULL) {
        rc = KABAR_ETOKEN;
        goto out;
    }
    if ((rc = jwt_check_claims(v, claims, id, ts, now, body, len)) != KABAR_OK)
        goto out;
    *claims_out = claims;
    claims = NULL;
out:
    EVP_PKEY_free(key);
    json_decref(claims);
    json_decref(header);
    return rc;
}
