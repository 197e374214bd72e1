/*
 * kabar.h - libkabar, the receiver library of kabar.
 *
 * Receivers of kabar's webhooks link this library to verify what they
 * receive. Every public name starts with kabar_; every type is opaque.
 */
#ifndef KABAR_KABAR_H
#define KABAR_KABAR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KABAR_EXTERN __attribute__((visibility("default")))
#else
#define KABAR_EXTERN
#endif

/* The library's version, e.g. "0.1.0". */
KABAR_EXTERN const char *kabar_version(void);

#ifdef __cplusplus
}
#endif

#endif
