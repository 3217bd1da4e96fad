/*
 * labels.c — label syntax and equality selectors (peer/labels.c).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "labels.h"

static bool sel(const char *text, char *const *labels)
{
    selector s;
    char err[256];
    cr_assert(selector_parse(&s, text, strlen(text), err, sizeof err), "%s: %s", text, err);
    return selector_match(&s, labels);
}

static void refused(const char *text, const char *says)
{
    selector s;
    char err[256] = "";
    cr_assert(!selector_parse(&s, text, strlen(text), err, sizeof err), "%s was taken", text);
    cr_assert(strstr(err, says), "%s: %s", text, err);
}

Test(labels, selectors_as_kubernetes_reads_them)
{
    char *l[] = { "job=1234", "role=db", "empty=", NULL };
    cr_assert(sel("", l));
    cr_assert(sel("  ", l));
    cr_assert(sel("job=1234", l));
    cr_assert(sel("job==1234", l));
    cr_assert(sel(" job = 1234 , role=db", l));
    cr_assert(!sel("job=123", l));
    cr_assert(!sel("job=1234,role=web", l));
    cr_assert(sel("role!=web", l));
    cr_assert(!sel("role!=db", l));
    cr_assert(sel("other!=x", l));          /* absent counts as other */
    cr_assert(sel("job", l));
    cr_assert(!sel("other", l));
    cr_assert(sel("!other", l));
    cr_assert(!sel("!job", l));
    cr_assert(sel("empty=", l));
    cr_assert(sel("empty", l));
    cr_assert(!sel("job=", l));
    char *none[] = { NULL };
    cr_assert(sel("", none));
    cr_assert(!sel("job", none));
    cr_assert(sel("job!=1", none));
}

Test(labels, bad_selectors_name_the_requirement)
{
    refused("job=1234,,role=db", "\"\"");
    refused("a b=c", "a b=c");
    refused("job=<b>", "label value");
    refused("=x", "label key");
    refused("job=a,=b", "\"=b\"");
    refused("j!ob=1", "label key");
    char many[64 * 3 + 8] = "";
    for (int i = 0; i < 65; i++) strcat(many, i ? ",a" : "a");
    refused(many, "more than 64");
}

Test(labels, keys_and_values)
{
    cr_assert(label_key_ok("k8s.io/name-1_x", 15));
    cr_assert(!label_key_ok("", 0));
    cr_assert(!label_key_ok("a=b", 3));
    cr_assert(!label_key_ok("a,b", 3));
    char long_key[65];
    memset(long_key, 'k', 64);
    long_key[64] = 0;
    cr_assert(label_key_ok(long_key, 63));
    cr_assert(!label_key_ok(long_key, 64));
    cr_assert(label_value_ok("", 0));
    cr_assert(!label_value_ok("a/b", 3));
    cr_assert(!label_value_ok("a!", 2));
    char *l[] = { "a=1", "ab=2", NULL };
    cr_assert_str_eq(labels_get(l, "ab"), "2");
    cr_assert_str_eq(labels_get(l, "a"), "1");
    cr_assert_null(labels_get(l, "b"));
}
