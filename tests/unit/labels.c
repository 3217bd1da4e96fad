/*
 * labels.c — label syntax and selectors (peer/term/labels.c).
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
    cr_assert(sel("*", l));
    cr_assert(sel(" * ", l));
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
    cr_assert(sel("job in (1,1234)", l));
    cr_assert(sel("job in ( 99 , 1234 ),role=db", l));
    cr_assert(!sel("job in (1,2)", l));
    cr_assert(!sel("other in (1,2)", l));
    cr_assert(sel("job notin (1,2)", l));
    cr_assert(!sel("job notin (1,1234)", l));
    cr_assert(sel("other notin (1)", l));  /* absent is none of them */
    cr_assert(sel("role in (web,db),job notin (7),!other", l));
    char *none[] = { NULL };
    cr_assert(sel("*", none));
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
    refused("", "empty, which would pick every peer; give \"*\"");
    refused("  ", "empty");
    refused("*,job=1", "\"*\" picks every peer, and stands alone");
    refused("job in (a,b", "\"job in (a,b\": a '(' without its ')'");
    refused("job in a,b)", "\"job in a\": a set is written key in (v1,v2)");
    refused("job in", "a set is written");
    refused("a,b)", "\"b)\": a ')' without its '('");
    refused("job in ()", "at least one value");
    refused("job within (a)", "key in (v1,v2)");
    refused("job in (a) x", "')' must end");
    refused("job in ((a))", "do not nest");
    refused("job in (a,<b>)", "label value");
    refused("job in (a,b),=c", "\"=c\"");
    char huge[SELECTOR_MAX + 2];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = 0;
    refused(huge, "longer than 4096 bytes");
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
