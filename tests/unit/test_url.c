/*
 * test_url.c - ws:// and wss:// URLs (src/net/url.c): what is accepted and how it is split,
 * and every kind of URL refused with a sentence naming the reason.
 */
#include "testutil.h"

#include "core/err.h"
#include "net/url.h"

#include <stdio.h>
#include <string.h>

static void check_url(const char *url, bool tls, const char *host, unsigned port,
                      const char *target, bool is_ip)
{
    struct fh_url u;
    char err[128] = "";
    int rc = fh_url_parse(url, &u, err, sizeof(err));
    if (rc != 0)
        fail_msg("%s: %s", url, err);
    assert_int_equal(u.tls, tls);
    assert_int_equal(u.host.n, strlen(host));
    assert_memory_equal(u.host.p, host, u.host.n);
    assert_int_equal(u.port, port);
    assert_int_equal(u.target.n, strlen(target));
    assert_memory_equal(u.target.p, target, u.target.n);
    assert_int_equal(u.host_is_ip, is_ip);
}

static void check_bad_url(const char *url, const char *why)
{
    struct fh_url u;
    char err[128] = "";
    assert_int_equal(fh_url_parse(url, &u, err, sizeof(err)), FH_EINVAL);
    if (strstr(err, why) == NULL)
        fail_msg("%s: error \"%s\" does not mention \"%s\"", url, err, why);
}

static void test_url_good(void **state)
{
    (void)state;
    check_url("ws://example.com", false, "example.com", 80, "/", false);
    check_url("wss://example.com", true, "example.com", 443, "/", false);
    check_url("WSS://stream.binance.com:9443/ws?x=1&y=2", true, "stream.binance.com", 9443,
              "/ws?x=1&y=2", false);
    check_url("wss://ws.kraken.com/v2", true, "ws.kraken.com", 443, "/v2", false);
    check_url("ws://127.0.0.1:8080/a/b", false, "127.0.0.1", 8080, "/a/b", true);
    check_url("ws://[::1]:9000/x", false, "::1", 9000, "/x", true);
    check_url("wss://[2001:db8::1]/", true, "2001:db8::1", 443, "/", true);
    check_url("ws://host?q=1", false, "host", 80, "?q=1", false);
    check_url("ws://my_host-1.example:65535/", false, "my_host-1.example", 65535, "/", false);

    struct fh_url u;
    assert_int_equal(fh_url_parse("ws://h:80/", &u, NULL, 0), 0);
    assert_true(u.port_explicit);
    assert_int_equal(fh_url_parse("ws://h/", &u, NULL, 0), 0);
    assert_false(u.port_explicit);
}

static void test_url_bad(void **state)
{
    (void)state;
    check_bad_url("http://example.com/", "scheme");
    check_bad_url("example.com", "scheme");
    check_bad_url("ws://", "no host");
    check_bad_url("ws:///path", "no host");
    check_bad_url("ws://:80/", "no host");
    check_bad_url("ws://host:0/", "range");
    check_bad_url("ws://host:65536/", "range");
    check_bad_url("ws://host:8a/", "not a number");
    check_bad_url("ws://host:/", "empty port");
    check_bad_url("ws://user:pw@host/", "user information");
    check_bad_url("ws://host/a#frag", "fragment");
    check_bad_url("ws://[::1/", "closing");
    check_bad_url("ws://[zz::1]/", "IPv6");
    check_bad_url("ws://[::1]x/", "after the IPv6");
    check_bad_url("ws://1.2.3/", "IPv4");
    check_bad_url("ws://1.2.3.256/", "IPv4");
    check_bad_url("ws://a..b/", "host name");
    check_bad_url("ws://a!b/", "host name");
    check_bad_url("ws://ho st/", "space");
    check_bad_url("ws://h\xc3\xa9/", "non-ASCII");
    assert_int_equal(fh_url_parse(NULL, &(struct fh_url){0}, NULL, 0), FH_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_good),
        cmocka_unit_test(test_url_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
