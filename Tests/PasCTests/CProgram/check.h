/*
 * The checking helpers shared by the C test programs: CHECK counts and reports a failed
 * condition with the thread's last Pas error; CHECK_ERROR expects the last call to have
 * recorded an error code and errno. Each program includes this once.
 */
#ifndef PAS_C_TEST_CHECK_H
#define PAS_C_TEST_CHECK_H

#include "pas.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int checks = 0;
static int failures = 0;

#define CHECK(condition) check((condition), #condition, __LINE__)

static void check(int ok, const char* text, int line)
{
    checks++;
    if (ok)
        return;
    failures++;
    printf("FAIL line %d: %s (last error %s, errno %d: %s)\n", line, text,
           pas_error_name(pas_last_error()), pas_last_error_errno(), pas_last_error_message());
}

/* Expects the last call to have recorded `code` and set errno to `expected_errno`. */
#define CHECK_ERROR(code, expected_errno) \
    do { \
        CHECK(pas_last_error() == (code)); \
        CHECK(pas_last_error_errno() == (expected_errno)); \
        CHECK(errno == (expected_errno)); \
        CHECK(strlen(pas_last_error_message()) > 0); \
        pas_clear_last_error(); \
        errno = 0; \
    } while (0)

#endif
