/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_util - the strict parsers (good values, junk, trailing junk, empty,
 * range edges at N and N+1, overflow; *out untouched on failure),
 * durations in each unit, boolean spellings, util_trim, the FNV-1a hash
 * against known vectors, util_auc on hand-computed cases and util_glob_match.
 */
#include "config.h"
#include "util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../tap.h"

#define UNTOUCHED (-4242)

struct long_case {
    const char *in;
    long min, max;
    int ok;
    long want;
};

static const struct long_case long_cases[] = {
    { "42", 0, 100, 1, 42 },
    { " 42\t", 0, 100, 1, 42 },
    { "-7", -10, 10, 1, -7 },
    { "+5", 0, 10, 1, 5 },
    { "007", 0, 10, 1, 7 },          /* decimal, not octal */
    { "abc", 0, 100, 0, 0 },
    { "42x", 0, 100, 0, 0 },
    { "4 2", 0, 100, 0, 0 },
    { "0x10", 0, 100, 0, 0 },
    { "1.5", 0, 100, 0, 0 },
    { "", 0, 100, 0, 0 },
    { "   ", 0, 100, 0, 0 },
    { "-", 0, 100, 0, 0 },
    { "1", 1, 10, 1, 1 },            /* min */
    { "0", 1, 10, 0, 0 },            /* min - 1 */
    { "10", 1, 10, 1, 10 },          /* max */
    { "11", 1, 10, 0, 0 },           /* max + 1 */
    { "9223372036854775807", LONG_MIN, LONG_MAX, 1, LONG_MAX },
    { "9223372036854775808", LONG_MIN, LONG_MAX, 0, 0 },
    { "-9223372036854775808", LONG_MIN, LONG_MAX, 1, LONG_MIN },
    { "-9223372036854775809", LONG_MIN, LONG_MAX, 0, 0 },
    { "99999999999999999999999", LONG_MIN, LONG_MAX, 0, 0 },
};

static const struct long_case octal_cases[] = {
    { "007", 0, 0777, 1, 7 },
    { "7", 0, 0777, 1, 7 },
    { "0777", 0, 0777, 1, 0777 },    /* max */
    { "1000", 0, 0777, 0, 0 },       /* max + 1 */
    { "0", 0, 0777, 1, 0 },          /* min */
    { "-1", 0, 0777, 0, 0 },         /* min - 1 */
    { "8", 0, 0777, 0, 0 },
    { "0778", 0, 0777, 0, 0 },
    { "", 0, 0777, 0, 0 },
    { "07x", 0, 0777, 0, 0 },
    { "7777777777777777777777777", 0, LONG_MAX, 0, 0 },
};

struct dbl_case {
    const char *in;
    double min, max;
    int ok;
    double want;
};

static const struct dbl_case dbl_cases[] = {
    { "1.5", 0, 10, 1, 1.5 },
    { " -0.25 ", -1, 1, 1, -0.25 },
    { "1e3", 0, 1e4, 1, 1000 },
    { "5", 0, 10, 1, 5 },
    { "five", 0, 10, 0, 0 },
    { "1.5x", 0, 10, 0, 0 },
    { "1.5 2", 0, 10, 0, 0 },
    { "", 0, 10, 0, 0 },
    { " ", 0, 10, 0, 0 },
    { "nan", -1e9, 1e9, 0, 0 },
    { "inf", -1e9, 1e300, 0, 0 },
    { "1e999", -1e9, 1e300, 0, 0 },   /* overflow */
    { "0", 0, 1, 1, 0 },              /* min */
    { "-0.000001", 0, 1, 0, 0 },      /* just below min */
    { "1", 0, 1, 1, 1 },              /* max */
    { "1.000001", 0, 1, 0, 0 },       /* just above max */
};

static const struct long_case dur_cases[] = {
    { "250ms", 0, LONG_MAX, 1, 250 },
    { "30s", 0, LONG_MAX, 1, 30000 },
    { "5m", 0, LONG_MAX, 1, 300000 },
    { "1h", 0, LONG_MAX, 1, 3600000 },
    { "14d", 0, LONG_MAX, 1, 1209600000 },
    { "2x", 0, LONG_MAX, 0, 0 },
    { "7", 0, LONG_MAX, 1, 7000 },        /* bare number: seconds */
    { " 2s ", 0, LONG_MAX, 1, 2000 },
    { "0ms", 0, LONG_MAX, 1, 0 },
    { "2 s", 0, LONG_MAX, 0, 0 },
    { "1w", 0, LONG_MAX, 0, 0 },
    { "ms", 0, LONG_MAX, 0, 0 },
    { "-1s", -10000, LONG_MAX, 0, 0 },
    { "1.5s", 0, LONG_MAX, 0, 0 },
    { "5mss", 0, LONG_MAX, 0, 0 },
    { "", 0, LONG_MAX, 0, 0 },
    { "10ms", 10, 60000, 1, 10 },         /* min */
    { "9ms", 10, 60000, 0, 0 },           /* min - 1 */
    { "60s", 10, 60000, 1, 60000 },       /* max */
    { "60001ms", 10, 60000, 0, 0 },       /* max + 1 */
    { "1m", 10, 60000, 1, 60000 },
    { "2m", 10, 60000, 0, 0 },
    { "2562047788015h", 0, LONG_MAX, 1, 2562047788015L * 3600000 },
    { "2562047788016h", 0, LONG_MAX, 0, 0 },  /* overflows in ms */
    { "99999999999999999999s", 0, LONG_MAX, 0, 0 },
};

static const struct long_case size_cases[] = {
    { "512M", 0, LONG_MAX, 1, 512L << 20 },
    { "512MiB", 0, LONG_MAX, 1, 512L << 20 },
    { "512MB", 0, LONG_MAX, 1, 512L << 20 },
    { "64k", 0, LONG_MAX, 1, 64L << 10 },
    { "2g", 0, LONG_MAX, 1, 2L << 30 },
    { "1T", 0, LONG_MAX, 1, 1L << 40 },
    { "4096", 0, LONG_MAX, 1, 4096 },     /* bare number: bytes */
    { " 1G ", 0, LONG_MAX, 1, 1L << 30 },
    { "1 G", 0, LONG_MAX, 0, 0 },
    { "1P", 0, LONG_MAX, 0, 0 },
    { "1.5G", 0, LONG_MAX, 0, 0 },
    { "-1M", -10, LONG_MAX, 0, 0 },
    { "M", 0, LONG_MAX, 0, 0 },
    { "1Mi", 0, LONG_MAX, 0, 0 },
    { "32M", 32L << 20, 1L << 40, 1, 32L << 20 },     /* min */
    { "32767K", 32L << 20, 1L << 40, 0, 0 },          /* min - 1K */
    { "1024G", 32L << 20, 1L << 40, 1, 1L << 40 },    /* max */
    { "1099511627777", 32L << 20, 1L << 40, 0, 0 },   /* max + 1 */
    { "9007199254740992T", 0, LONG_MAX, 0, 0 },       /* overflows */
};

static const struct {
    const char *in;
    int ok, want;
} bool_cases[] = {
    { "yes", 1, 1 },   { "no", 1, 0 },     { "true", 1, 1 },
    { "false", 1, 0 }, { "on", 1, 1 },     { "off", 1, 0 },
    { "1", 1, 1 },     { "0", 1, 0 },      { "YES", 1, 1 },
    { "False", 1, 0 }, { " on\t", 1, 1 },  { "y", 0, 0 },
    { "n", 0, 0 },     { "2", 0, 0 },      { "", 0, 0 },
    { "yess", 0, 0 },  { "no way", 0, 0 }, { "01", 0, 0 },
};

/* check_longs - a table through one long parser */
static void
check_longs(const char *name,
            int (*fn)(const char *, long, long, long *),
            const struct long_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        long out = UNTOUCHED;
        int r = fn(cases[i].in, cases[i].min, cases[i].max, &out);

        if (cases[i].ok) {
            ok(r == 0 && out == cases[i].want, "%s '%s' in %ld..%ld = %ld",
               name, cases[i].in, cases[i].min, cases[i].max,
               cases[i].want);
        } else {
            ok(r == -1 && out == UNTOUCHED,
               "%s '%s' in %ld..%ld rejected, out untouched", name,
               cases[i].in, cases[i].min, cases[i].max);
        }
    }
}

/* check_doubles - util_parse_double */
static void
check_doubles(void)
{
    for (size_t i = 0; i < sizeof(dbl_cases) / sizeof(dbl_cases[0]); i++) {
        double out = UNTOUCHED;
        int r = util_parse_double(dbl_cases[i].in, dbl_cases[i].min,
                                  dbl_cases[i].max, &out);

        if (dbl_cases[i].ok)
            ok(r == 0 && out == dbl_cases[i].want, "double '%s' = %g",
               dbl_cases[i].in, dbl_cases[i].want);
        else
            ok(r == -1 && out == UNTOUCHED,
               "double '%s' in %g..%g rejected, out untouched",
               dbl_cases[i].in, dbl_cases[i].min, dbl_cases[i].max);
    }
}

/* check_bools - util_parse_bool */
static void
check_bools(void)
{
    for (size_t i = 0; i < sizeof(bool_cases) / sizeof(bool_cases[0]);
         i++) {
        int out = UNTOUCHED;
        int r = util_parse_bool(bool_cases[i].in, &out);

        if (bool_cases[i].ok)
            ok(r == 0 && out == bool_cases[i].want, "bool '%s' = %d",
               bool_cases[i].in, bool_cases[i].want);
        else
            ok(r == -1 && out == UNTOUCHED, "bool '%s' rejected",
               bool_cases[i].in);
    }
}

/* check_trim - util_trim in place */
static void
check_trim(void)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "  a b \t\n", "a b" }, { "x", "x" },      { "", "" },
        { " \t\r\n ", "" },      { "a\r\n", "a" },  { "\tx y", "x y" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32], *r;

        snprintf(buf, sizeof(buf), "%s", cases[i].in);
        r = util_trim(buf);
        ok(r >= buf && r <= buf + strlen(cases[i].in),
           "trim %zu: result inside the buffer", i);
        is_str(r, cases[i].want, "trim %zu", i);
    }
}

/* check_hash - FNV-1a 64 known vectors and chaining */
static void
check_hash(void)
{
    uint64_t h;

    ok(util_hash64("a", 1, UTIL_HASH64_INIT) == 0xaf63dc4c8601ec8cULL,
       "fnv1a64(\"a\") = af63dc4c8601ec8c");
    ok(util_hash64("foobar", 6, UTIL_HASH64_INIT) == 0x85944171f73967e8ULL,
       "fnv1a64(\"foobar\") = 85944171f73967e8");
    ok(util_hash64("", 0, UTIL_HASH64_INIT) == UTIL_HASH64_INIT,
       "fnv1a64(\"\") = offset basis");
    h = util_hash64("foo", 3, UTIL_HASH64_INIT);
    ok(util_hash64("bar", 3, h) == 0x85944171f73967e8ULL,
       "chained through seed = one pass");
    ok(util_hash64("\xff", 1, UTIL_HASH64_INIT) !=
           util_hash64("\x7f", 1, UTIL_HASH64_INIT),
       "high bytes count");
    /* every length, so each tail of the four-byte turns: against FNV-1a
     * a byte at a time */
    {
        unsigned char b[67];
        int bad = 0;

        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)(i * 37 + 11);
        for (size_t n = 0; n <= sizeof(b); n++) {
            uint64_t want = UTIL_HASH64_INIT;

            for (size_t i = 0; i < n; i++)
                want = (want ^ b[i]) * 0x100000001b3ULL;
            bad += util_hash64(b, n, UTIL_HASH64_INIT) != want;
        }
        is_int(bad, 0, "lengths 0 .. 67 as a byte at a time");
    }
    ok(util_hash64("foobarfoobar", 12, UTIL_HASH64_INIT) ==
           util_hash64("foobar", 6, util_hash64("foobar", 6,
                                                UTIL_HASH64_INIT)),
       "a split inside a four-byte turn chains too");
}

/* check_auc - util_auc */
static void
check_auc(void)
{
    static const double s4[] = { 0.1, 0.4, 0.35, 0.8 };
    static const unsigned char l4[] = { 0, 0, 1, 1 };
    static const double perfect[] = { 0.1, 0.2, 0.8, 0.9, 0.95 };
    static const unsigned char lp[] = { 0, 0, 1, 1, 1 };
    static const unsigned char li[] = { 1, 1, 0, 0, 0 };
    static const double tie[] = { 0.5, 0.5, 0.9, 0.1 };
    static const unsigned char lt[] = { 1, 0, 1, 0 };
    static const double flat[] = { 0.3, 0.3, 0.3, 0.3 };
    static const unsigned char one[] = { 1, 1, 1, 1 };
    static const unsigned char none[] = { 0, 0, 0, 0 };
    static const unsigned char lbig[] = { 0, 0, 7, 255 };

    is_dbl(util_auc(perfect, lp, 5), 1.0, 1e-12, "auc perfect = 1");
    is_dbl(util_auc(perfect, li, 5), 0.0, 1e-12, "auc inverted = 0");
    is_dbl(util_auc(s4, l4, 4), 0.75, 1e-12, "auc mixed = 0.75");
    is_dbl(util_auc(tie, lt, 4), 0.875, 1e-12,
           "auc with a tie across classes = 0.875");
    is_dbl(util_auc(flat, l4, 4), 0.5, 1e-12, "auc all tied = 0.5");
    is_dbl(util_auc(s4, one, 4), 0.5, 1e-12, "auc only positives = 0.5");
    is_dbl(util_auc(s4, none, 4), 0.5, 1e-12, "auc only negatives = 0.5");
    is_dbl(util_auc(s4, l4, 0), 0.5, 1e-12, "auc of nothing = 0.5");
    is_dbl(util_auc(s4, lbig, 4), 0.75, 1e-12, "any nonzero label is 1");
}

struct glob_case {
    const char *pat, *name;
    int want;
};

static const struct glob_case glob_cases[] = {
    { "SPAMHAUS_FAIL", "SPAMHAUS_FAIL", 1 },
    { "SPAMHAUS_FAIL", "SPAMHAUS_FAI", 0 },
    { "SPAMHAUS_FAIL", "SPAMHAUS_FAILS", 0 },
    { "*_FAIL", "SPAMHAUS_FAIL", 1 },
    { "*_FAIL", "_FAIL", 1 },             /* '*' matches nothing too */
    { "*_FAIL", "R_SPF_DNSFAIL", 0 },     /* no '_' before FAIL */
    { "*_FAIL", "X_FAIL_FAIL", 1 },       /* needs the backtrack */
    { "*_FAIL", "X_FAILED", 0 },
    { "NEURAL_*", "NEURAL_SPAM", 1 },
    { "NEURAL_*", "NEURAL_", 1 },
    { "NEURAL_*", "NEURAL", 0 },
    { "*URIBL*FAIL", "SEM_URIBL_UNKNOWN_FAIL", 1 },
    { "*URIBL*FAIL", "SEM_URIBL", 0 },
    { "RBL_???_FAIL", "RBL_SEM_FAIL", 1 },
    { "RBL_???_FAIL", "RBL_SE_FAIL", 0 },
    { "*", "ANYTHING", 1 },
    { "**", "A", 1 },
    { "", "", 1 },
    { "", "A", 0 },
    { "a", "A", 0 },                      /* case-sensitive */
};

/* check_glob - '*' and '?' */
static void
check_glob(void)
{
    for (size_t i = 0; i < sizeof(glob_cases) / sizeof(glob_cases[0]); i++) {
        const struct glob_case *c = &glob_cases[i];

        is_int(util_glob_match(c->pat, strlen(c->pat), c->name), c->want,
               "glob '%s' on '%s'", c->pat, c->name);
    }
    /* plen bounds the pattern: the rest of the buffer is not read */
    is_int(util_glob_match("NEURAL_*,X", 8, "NEURAL_HAM"), 1,
           "glob reads only plen bytes");
}

/* check_fixed_one - util_fmt_fixed() against snprintf() for one value;
 * 1 when they agree byte for byte */
static int
check_fixed_one(double x, int prec, int plus, char *first, size_t flen)
{
    char a[UTIL_FIXED_MAX], b[UTIL_FIXED_MAX];
    size_t n = util_fmt_fixed(a, x, prec, plus);

    snprintf(b, sizeof(b), plus ? "%+.*f" : "%.*f", prec, x);
    if (strcmp(a, b) == 0 && n == strlen(b))
        return 1;
    if (first[0] == '\0')
        snprintf(first, flen, "%.17g prec %d: '%s' vs '%s'", x, prec, a, b);
    return 0;
}

/* check_fixed - util_fmt_fixed() is snprintf("%.*f") byte for byte: on
 * ties, near-ties, signed zeros, the edges of the fast path and a
 * million random values of the shapes scores and probabilities take */
static void
check_fixed(void)
{
    static const double edge[] = {
        0.0, -0.0, 0.125, 0.375, 2.675, 1.005, -1.005, 0.0005, 0.005,
        -0.005, 0.0049999999999999, 999999.994, 999999.996, 1e6, -1e6,
        1e300, 5e-324, 0.5, 1.5, 2.5, -2.5, 0.9995, 0.99949999999,
        7.5, 15.0, -3.0, 123456.785, 0.1 + 0.2,
    };
    uint64_t s = 42;
    char first[160] = "";
    size_t bad = 0, n = 0;

    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
        for (int prec = 0; prec <= 6; prec++)
            for (int plus = 0; plus <= 1; plus++, n++)
                bad += !check_fixed_one(edge[i], prec, plus, first,
                                        sizeof(first));
    bad += !check_fixed_one(NAN, 2, 0, first, sizeof(first));
    bad += !check_fixed_one(-INFINITY, 3, 1, first, sizeof(first));
    for (size_t i = 0; i < 1000000; i++, n++) {
        double u, x;

        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        u = (double)(s >> 11) / 9007199254740992.0;
        switch (i % 4) {
        case 0: /* a probability */
            x = u;
            break;
        case 1: /* a score of two decimals, give or take a rounding */
            x = (double)((long)(u * 4e6) - 2000000) / 100.0;
            break;
        case 2: /* an adjustment, any double in [-5, 5] */
            x = 10 * u - 5;
            break;
        default: /* the half-way points of three decimals, and beside */
            x = ((double)(long)(u * 2e6) + 0.5) / 1000.0 *
                (i & 4 ? 1 : -1);
            if (i & 8)
                x = nextafter(x, 0);
            break;
        }
        bad += !check_fixed_one(x, (int)(i % 4), (int)(i & 1), first,
                                sizeof(first));
    }
    ok(bad == 0, "util_fmt_fixed is snprintf %%.Nf on %zu values (%zu "
       "differ%s%s)", n, bad, bad ? ", first " : "", first);
}

int
main(void)
{
    check_longs("long", util_parse_long, long_cases,
                sizeof(long_cases) / sizeof(long_cases[0]));
    check_longs("octal", util_parse_octal, octal_cases,
                sizeof(octal_cases) / sizeof(octal_cases[0]));
    check_longs("duration", util_parse_duration_ms, dur_cases,
                sizeof(dur_cases) / sizeof(dur_cases[0]));
    check_longs("size", util_parse_size, size_cases,
                sizeof(size_cases) / sizeof(size_cases[0]));
    check_doubles();
    check_bools();
    check_trim();
    check_hash();
    check_auc();
    check_glob();
    check_fixed();
    return exit_status();
}
