/*
 * secret: credentials (API keys, the admin API key, the admin token):
 * comparing them without leaking them through timing, reading them from
 * files, and a holder that a reload swaps while other threads check
 * requests against it.
 *
 * Secret files (--admin-token-file, --admin-api-key-file, --api-key-file,
 * sglctl --token-file) come in two formats:
 *   SR_SECRET_ONE    the whole file is one secret; trailing whitespace
 *                    (the newline editors and `echo` add) is trimmed;
 *   SR_SECRET_LINES  one secret per line; spaces and tabs around a line are
 *                    trimmed, blank lines and lines starting with # skipped.
 * A missing or unreadable file, a file with no secret, one larger than
 * SR_SECRET_FILE_MAX, and a secret with a control byte (a second line in
 * an ONE file, a tab, NUL, ...) are errors. Error messages name the flag
 * and the file, never any of its content.
 *
 * struct sr_secret, the holder: the secrets given on the command line plus
 * those of the file, as one immutable reference-counted list. A reload
 * builds a new list from the same file and swaps the pointer under a mutex
 * (the old list is freed, and wiped, by whoever drops its last
 * reference); a reload that fails keeps the current list.
 *
 * Locking rule: sr_secret_bearer_ok() may run on any thread at any time,
 * concurrently with sr_secret_reload(): it takes the mutex only to take a
 * reference to the current list, then compares without it, so a check sees
 * either the old list or the new one, whole. Calls of sr_secret_reload()
 * are serialised by the caller (the main thread's SIGHUP handler).
 * sr_secret_new() and sr_secret_free() run when no other thread uses the
 * holder. A new secret applies to requests (and RPCs) checked after the
 * swap; what was let in before stays in.
 *
 * Ownership: the holder copies every string it is given; nothing returned
 * points into it.
 */
#ifndef SR_SECRET_H
#define SR_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SR_SECRET_FILE_MAX (1024 * 1024)

/* Equal bytes; the time taken depends only on the lengths. */
bool sr_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/* An Authorization header value "Bearer <token>" (scheme case-insensitive)
 * carrying exactly token. */
bool sr_bearer_matches(const char *value, size_t len, const char *token);

enum sr_secret_format { SR_SECRET_ONE, SR_SECRET_LINES };

/* The one secret of an SR_SECRET_ONE file, for a client (sglctl
 * --token-file). NULL with "<flag> <path>: <why>" in err. Free with
 * sr_secret_string_free(). */
char *sr_secret_read_one(const char *flag, const char *path, char *err, size_t errlen);
/* A whole text file that may hold key material (a certificate chain, a
 * private key, a CA bundle: PEM), NUL-terminated, at most
 * SR_SECRET_FILE_MAX bytes. NULL with "<flag> <path>: <why>" in err (also
 * for an empty file or one with NUL bytes). Free with
 * sr_secret_string_free(). */
char *sr_secret_read_text(const char *flag, const char *path, char *err, size_t errlen);
/* Wipes, then frees. Accepts NULL. */
void sr_secret_string_free(char *s);

struct sr_secret;

/* A holder of the nfixed secrets of fixed (command-line flags; may be 0)
 * and, with path, those of the file (read now, in format fmt; flag names
 * the file's flag in messages). NULL with a one-line reason in err. At
 * least one secret is needed. */
struct sr_secret *sr_secret_new(const char *const *fixed, size_t nfixed, const char *flag,
                                const char *path, enum sr_secret_format fmt, char *err,
                                size_t errlen);
/* Accepts NULL. */
void sr_secret_free(struct sr_secret *s);

/* The file behind the holder, or NULL when it has only flags. */
const char *sr_secret_path(const struct sr_secret *s);

/* Reads the file again: 0 with the new list in force, or -1 with the
 * reason in err and the current list kept (it never becomes empty). 0 at
 * once when there is no file. */
int sr_secret_reload(struct sr_secret *s, char *err, size_t errlen);

/* How many secrets the holder has now. */
size_t sr_secret_count(struct sr_secret *s);

/* An Authorization header value "Bearer <one of the secrets>". Every
 * secret is compared in constant time, so the time taken does not tell
 * which one came close. false when s is NULL. Any thread. */
bool sr_secret_bearer_ok(struct sr_secret *s, const char *value, size_t len);

#endif
