/*  test_http.c: the HTTP gateway's pieces that need no network: listen
 *  addresses and the loopback rule, the statuses of protocol error codes,
 *  error bodies, and a start refused before any bind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "ts_error.h"
#include "ts_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static unsigned
s_port (const struct sockaddr_storage *sa)
{
    return sa->ss_family == AF_INET ? ntohs (((const struct sockaddr_in *) sa)->sin_port)
                                    : ntohs (((const struct sockaddr_in6 *) sa)->sin6_port);
}

static void
test_addresses (void **state)
{
    (void) state;
    static const struct {
        const char *text;
        int         family;
        unsigned    port;
        bool        loopback;
    } good [] = {
        { "127.0.0.1:7480", AF_INET, 7480, true }, { "localhost:0", AF_INET, 0, true },
        { "7481", AF_INET, 7481, true }, { "127.9.9.9:80", AF_INET, 80, true },
        { "[::1]:8080", AF_INET6, 8080, true }, { "0.0.0.0:7480", AF_INET, 7480, false },
        { "[::]:1", AF_INET6, 1, false }, { "10.1.2.3:65535", AF_INET, 65535, false },
    };
    for (size_t i = 0; i < sizeof good / sizeof good [0]; i++) {
        struct sockaddr_storage sa;
        bool loop = !good [i].loopback;
        char err [256] = "";
        assert_int_equal (ts_http_parse_addr (good [i].text, &sa, &loop, err, sizeof err), 0);
        assert_int_equal (sa.ss_family, good [i].family);
        assert_int_equal (s_port (&sa), good [i].port);
        assert_true (loop == good [i].loopback);
    }
    static const char *const bad [] = {
        "", ":80", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:http", "1.2.3.4.5:80", "[::1", "host:-1",
        "127.0.0.1:80:90",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        struct sockaddr_storage sa;
        bool loop;
        char err [256] = "";
        assert_int_equal (ts_http_parse_addr (bad [i], &sa, &loop, err, sizeof err), TS_EINVAL);
        assert_non_null (strstr (err, "address"));
    }
}

static void
test_statuses (void **state)
{
    (void) state;
    static const struct {
        const char *code;
        unsigned    status;
    } want [] = {
        { "BAD_REQUEST", 400 }, { "VERSION", 400 }, { "NOT_FOUND", 404 }, { "TOO_BIG", 413 },
        { "UNKNOWN_OP", 501 }, { "UNAVAILABLE", 503 }, { "TIMEOUT", 504 }, { "BUSY", 503 },
        { "UNSUPPORTED_MEDIA_TYPE", 415 }, { "STORE", 500 }, { "CORRUPT", 500 },
        { "SOMETHING_NEW", 500 }
    };
    for (size_t i = 0; i < sizeof want / sizeof want [0]; i++)
        if (ts_hapi_status (want [i].code) != want [i].status)
            fail_msg ("%s: %u, want %u", want [i].code, ts_hapi_status (want [i].code),
                      want [i].status);
}

static void
test_error_body (void **state)
{
    (void) state;
    ts_hanswer_t a = { 0 };
    ts_hanswer_error (&a, 400, "BAD_REQUEST", "parameter \"%s\": <script>\n", "x");
    assert_int_equal (a.status, 400);
    const char *want = "{\"error\":{\"code\":\"BAD_REQUEST\",\"message\":\"parameter \\\"x\\\": <script>\\n\"}}";
    assert_int_equal (a.body.size, strlen (want));
    assert_memory_equal (a.body.data, want, a.body.size);
    ts_buf_free (&a.body);
}

static void
test_refused_before_bind (void **state)
{
    (void) state;
    char err [600] = "";
    ts_http_config_t cfg = { .addr = "0.0.0.0:0", .api = "ipc:///nonexistent/api.sock" };
    assert_null (ts_http_start (&cfg, err, sizeof err));
    assert_non_null (strstr (err, "not a loopback address"));
    cfg.addr = "127.0.0.1:0";
    cfg.token = "two words";
    assert_null (ts_http_start (&cfg, err, sizeof err));
    assert_non_null (strstr (err, "token"));
    cfg.token = "";
    assert_null (ts_http_start (&cfg, err, sizeof err));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_addresses),
        cmocka_unit_test (test_statuses),
        cmocka_unit_test (test_error_body),
        cmocka_unit_test (test_refused_before_bind),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
