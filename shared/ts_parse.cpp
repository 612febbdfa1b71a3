/*  ts_parse.cpp: the line parser (ts_parse.h): simdjson DOM -> msgpack,
 *  plus extraction of the indexed fields through the profile's JSON
 *  pointers. C++ only because simdjson is; everything outside this file
 *  sees the C interface. */
#include "ts_parse.h"
#include "ts_error.h"
#include "ts_mp.h"

#include <simdjson.h>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

using namespace simdjson;

struct ts_parser {
    ts_profile_t profile;
    dom::parser  dom;
    std::string  id, group, model;     /* summary strings live here */
    std::string  scratch;
    ts_buf_t    *out;
    ts_buf_t     obj;               /* the object, when its id is its hash */
    int          id_alt;            /* the id alternative found, -1: none */
    const char  *const_model;       /* set.model, or NULL */
};

namespace {


struct bad_line {
    std::string reason;
};

const char *s_type_name (dom::element_type t)
{
    switch (t) {
    case dom::element_type::ARRAY:  return "array";
    case dom::element_type::OBJECT: return "object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64: return "integer";
    case dom::element_type::DOUBLE: return "float";
    case dom::element_type::STRING: return "string";
    case dom::element_type::BOOL:   return "bool";
    case dom::element_type::NULL_VALUE: return "null";
    }
    return "value";
}

/*  Packs `e` (at nesting level `level`, 1 for the record) into pk. */
int s_pack (msgpack_packer *pk, dom::element e, int level)
{
    switch (e.type ()) {
    case dom::element_type::OBJECT: {
        if (level > TS_MAX_DEPTH)
            return TS_ETOOBIG;
        dom::object o = e.get_object ().value_unsafe ();
        if (msgpack_pack_map (pk, o.size ()))
            return TS_ENOMEM;
        for (dom::key_value_pair kv : o) {
            if (ts_mp_pack_strn (pk, kv.key.data (), kv.key.size ()))
                return TS_ENOMEM;
            int rc = s_pack (pk, kv.value, level + 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    case dom::element_type::ARRAY: {
        if (level > TS_MAX_DEPTH)
            return TS_ETOOBIG;
        dom::array a = e.get_array ().value_unsafe ();
        if (msgpack_pack_array (pk, a.size ()))
            return TS_ENOMEM;
        for (dom::element v : a) {
            int rc = s_pack (pk, v, level + 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    case dom::element_type::STRING: {
        std::string_view s = e.get_string ().value_unsafe ();
        return ts_mp_pack_strn (pk, s.data (), s.size ());
    }
    case dom::element_type::INT64:
        return msgpack_pack_int64 (pk, e.get_int64 ().value_unsafe ()) ? TS_ENOMEM : 0;
    case dom::element_type::UINT64:
        return msgpack_pack_uint64 (pk, e.get_uint64 ().value_unsafe ()) ? TS_ENOMEM : 0;
    case dom::element_type::DOUBLE:
        return msgpack_pack_double (pk, e.get_double ().value_unsafe ()) ? TS_ENOMEM : 0;
    case dom::element_type::BOOL:
        return (e.get_bool ().value_unsafe () ? msgpack_pack_true (pk) : msgpack_pack_false (pk))
               ? TS_ENOMEM : 0;
    case dom::element_type::NULL_VALUE:
        return msgpack_pack_nil (pk) ? TS_ENOMEM : 0;
    }
    return TS_EINVAL;
}

/*  Finds the first alternative of `f` whose parts are all present (and not
 *  null). Returns the alternative's index, or -1. Fills parts[]. */
int s_lookup (dom::element root, const ts_field_t &f, dom::element parts [TS_PROFILE_PARTS])
{
    for (int a = 0; a < f.nalts; a++) {
        const ts_field_alt_t &alt = f.alts [a];
        bool ok = true;
        for (int p = 0; p < alt.nparts && ok; p++) {
            auto r = root.at_pointer (alt.parts [p]);
            if (r.error () || r.value_unsafe ().is_null ())
                ok = false;
            else
                parts [p] = r.value_unsafe ();
        }
        if (ok)
            return a;
    }
    return -1;
}

/*  The text of a scalar used as id, group or model. */
bool s_scalar_text (dom::element e, std::string &out)
{
    char num [40];
    switch (e.type ()) {
    case dom::element_type::STRING: {
        std::string_view s = e.get_string ().value_unsafe ();
        out.append (s.data (), s.size ());
        return true;
    }
    case dom::element_type::INT64:
        snprintf (num, sizeof num, "%lld", (long long) e.get_int64 ().value_unsafe ());
        out += num;
        return true;
    case dom::element_type::UINT64:
        snprintf (num, sizeof num, "%llu", (unsigned long long) e.get_uint64 ().value_unsafe ());
        out += num;
        return true;
    case dom::element_type::DOUBLE:
        ts_format_double (e.get_double ().value_unsafe (), num);
        out += num;
        return true;
    default:
        return false;
    }
}

[[noreturn]] void s_bad (const char *field, const char *ptr, const char *what,
                         dom::element_type got)
{
    char buf [512];
    snprintf (buf, sizeof buf, "field %s (%s): %s, got %s", field, ptr, what, s_type_name (got));
    throw bad_line { buf };
}

[[noreturn]] void s_bad_text (const char *field, const char *ptr, const char *what)
{
    char buf [512];
    snprintf (buf, sizeof buf, "field %s (%s): %s", field, ptr, what);
    throw bad_line { buf };
}

/*  Returns the alternative found, -1 when none is present. */
int s_text_field (dom::element root, const ts_field_t &f, const char *name, size_t max,
                  std::string &out)
{
    dom::element parts [TS_PROFILE_PARTS];
    out.clear ();
    int a = s_lookup (root, f, parts);
    if (a < 0)
        return a;
    for (int p = 0; p < f.alts [a].nparts; p++) {
        if (p)
            out += ':';
        if (!s_scalar_text (parts [p], out))
            s_bad (name, f.alts [a].parts [p], "expected a string or a number", parts [p].type ());
    }
    if (out.empty ())
        s_bad_text (name, f.alts [a].parts [0], "must not be empty");
    if (out.size () > max) {
        char what [64];
        snprintf (what, sizeof what, "longer than %zu bytes", max);
        s_bad_text (name, f.alts [a].parts [0], what);
    }
    return a;
}

bool s_coerce_number (std::string_view s, double &v)
{
    std::string tmp (s);
    char *end = nullptr;
    v = strtod (tmp.c_str (), &end);
    return !tmp.empty () && end && *end == 0 && std::isfinite (v);
}

void s_extract (ts_parser *self, dom::element root,
                int64_t ingested_ms, ts_summary_t *s)
{
    const ts_profile_t &pr = self->profile;
    dom::element parts [TS_PROFILE_PARTS];
    memset (s, 0, sizeof *s);
    s->ingested_ms = ingested_ms;
    s->success = TS_SUCCESS_UNKNOWN;
    if (pr.run [0]) {
        s->run = pr.run;
        s->run_len = (uint32_t) strlen (pr.run);
    }

    /* the id as the record holds it; ts_parser_parse decides whether it is
     * the record's id (ts_profile_record_id) */
    self->id_alt = s_text_field (root, pr.id, "id", TS_ID_MAX_BYTES, self->id);
    s->id = self->id.data ();
    s->id_len = (uint32_t) self->id.size ();

    if (s_text_field (root, pr.group, "group", TS_GROUP_MAX_BYTES, self->group) >= 0) {
        s->group = self->group.data ();
        s->group_len = (uint32_t) self->group.size ();
    }
    if (s_text_field (root, pr.model, "model", TS_MODEL_MAX_BYTES, self->model) >= 0) {
        s->model = self->model.data ();
        s->model_len = (uint32_t) self->model.size ();
    }
    else if (self->const_model) {       /* --set model=...: records that name none */
        s->model = self->const_model;
        s->model_len = (uint32_t) strlen (self->const_model);
    }

    int a = s_lookup (root, pr.reward, parts);
    if (a >= 0) {
        dom::element e = parts [0];
        const char *ptr = pr.reward.alts [a].parts [0];
        double v;
        if (e.is_number ())
            v = e.get_double ().value_unsafe ();   /* ints convert exactly enough */
        else if (pr.coerce && e.is_string () && s_coerce_number (e.get_string ().value_unsafe (), v))
            ;
        else
            s_bad ("reward", ptr, "expected a number", e.type ());
        s->has_reward = true;
        s->reward = v;
    }

    switch (pr.success_kind) {
    case TS_SUCCESS_REWARD_GE:
        if (s->has_reward)
            s->success = s->reward >= pr.success_threshold;
        break;
    case TS_SUCCESS_EQUALS:
        a = s_lookup (root, pr.success, parts);
        if (a >= 0) {
            if (!parts [0].is_string ())
                s_bad ("success", pr.success.alts [a].parts [0], "expected a string", parts [0].type ());
            s->success = parts [0].get_string ().value_unsafe () == pr.success_equals;
        }
        break;
    case TS_SUCCESS_FROM_FIELD:
        a = s_lookup (root, pr.success, parts);
        if (a >= 0) {
            dom::element e = parts [0];
            const char *ptr = pr.success.alts [a].parts [0];
            if (e.is_bool ())
                s->success = e.get_bool ().value_unsafe ();
            else if (e.is_int64 () && (e.get_int64 ().value_unsafe () == 0 || e.get_int64 ().value_unsafe () == 1))
                s->success = (int) e.get_int64 ().value_unsafe ();
            else if (pr.coerce && e.is_string ()
                     && (e.get_string ().value_unsafe () == "true" || e.get_string ().value_unsafe () == "false"))
                s->success = e.get_string ().value_unsafe () == "true";
            else if (e.is_number ())
                s_bad_text ("success", ptr, "expected a bool or 0/1, got another number");
            else
                s_bad ("success", ptr, "expected a bool or 0/1", e.type ());
        }
        break;
    }

    a = s_lookup (root, pr.created, parts);
    if (a >= 0) {
        dom::element e = parts [0];
        const char *ptr = pr.created.alts [a].parts [0];
        int64_t ms;
        if (e.is_string ()) {
            std::string_view t = e.get_string ().value_unsafe ();
            if (ts_parse_iso8601 (t.data (), t.size (), &ms))
                s_bad_text ("created", ptr, "not an ISO 8601 time");
        }
        else if (e.is_number ()) {
            /* epoch: seconds below 1e11 (until year 5138), milliseconds above */
            double v = e.get_double ().value_unsafe ();
            if (!(std::fabs (v) < 1e15))
                s_bad_text ("created", ptr, "epoch time out of range");
            ms = std::fabs (v) < 1e11 ? (int64_t) std::llround (v * 1000.0) : (int64_t) std::llround (v);
        }
        else
            s_bad ("created", ptr, "expected an ISO 8601 string or epoch number", e.type ());
        s->has_created = true;
        s->created_ms = ms;
    }

    a = s_lookup (root, pr.steps, parts);
    if (a >= 0) {
        dom::element e = parts [0];
        if (!e.is_array ())
            s_bad ("steps", pr.steps.alts [a].parts [0], "expected an array", e.type ());
        s->has_steps = true;
        s->steps = (int64_t) e.get_array ().value_unsafe ().size ();
    }
}

} // namespace

extern "C" {

ts_parser_t *
ts_parser_new (const ts_profile_t *profile)
{
    ts_parser_t *self = new (std::nothrow) ts_parser ();
    if (!self)
        return nullptr;
    self->profile = *profile;
    self->const_model = ts_profile_set_value (&self->profile, "model");
    return self;
}

void
ts_parser_destroy (ts_parser_t **self_p)
{
    if (self_p && *self_p) {
        ts_buf_free (&(*self_p)->obj);
        delete *self_p;
        *self_p = nullptr;
    }
}

bool
ts_line_is_blank (const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line [i] != ' ' && line [i] != '\t' && line [i] != '\r')
            return false;
    return true;
}

int
ts_parser_parse (ts_parser_t *self, const char *line, size_t len, uint64_t lineno,
                 int64_t ingested_ms, ts_buf_t *out, ts_summary_t *summary,
                 char *reason, size_t reason_size)
{
    if (len && line [len - 1] == '\r')
        len--;
    dom::element root;
    auto err = self->dom.parse (line, len, false).get (root);
    if (err) {
        if (err == MEMALLOC)
            return TS_ENOMEM;
        if (err == DEPTH_ERROR) {
            snprintf (reason, reason_size, "nesting deeper than %d levels", TS_MAX_DEPTH);
            return TS_EBADLINE;
        }
        if (ts_json_diagnose (line, len, reason, reason_size) == 0)
            snprintf (reason, reason_size, "invalid JSON: %s", error_message (err));
        return TS_EBADLINE;
    }
    if (!root.is_object ()) {
        snprintf (reason, reason_size, "the line is a JSON %s, not an object",
                  s_type_name (root.type ()));
        return TS_EBADLINE;
    }
    size_t start = out->size;
    try {
        s_extract (self, root, ingested_ms, summary);
    }
    catch (const bad_line &b) {
        snprintf (reason, reason_size, "%s", b.reason.c_str ());
        return TS_EBADLINE;
    }
    catch (const std::bad_alloc &) {
        return TS_ENOMEM;
    }
    msgpack_packer pk;
    int rc;
    ts_id_source_t from = ts_profile_record_id (&self->profile, self->id_alt);
    if (from == TS_ID_FROM_LINE) {
        /* one attempt: the run's line (ts_profile.h, attempt identity) */
        const ts_profile_t &pr = self->profile;
        char num [24];
        snprintf (num, sizeof num, "%llu", (unsigned long long) lineno);
        self->id.assign (pr.run);
        if (pr.file [0])
            self->id.append (":").append (pr.file);
        self->id.append (":").append (num);
        summary->id = self->id.data ();
        summary->id_len = (uint32_t) self->id.size ();
    }
    if (from == TS_ID_FROM_CONTENT) {
        /* A record without an id is named by the 128-bit hash of its
         * stored form, not of the line's bytes: the same object written
         * with other white space (an export, a re-indented dump) is then
         * the same record, a duplicate, not a second copy. */
        self->obj.size = 0;
        msgpack_packer_init (&pk, &self->obj, ts_buf_packer_write);
        rc = s_pack (&pk, root, 1);
        if (rc == 0) {
            char hex [33];
            ts_hash_id (self->obj.data, self->obj.size, hex);
            self->id.assign (hex, 32);
            summary->id = self->id.data ();
            summary->id_len = 32;
            msgpack_packer_init (&pk, out, ts_buf_packer_write);
            rc = ts_summary_pack (&pk, summary);
        }
        if (rc == 0)
            rc = ts_buf_append (out, self->obj.data, self->obj.size);
    }
    else {
        msgpack_packer_init (&pk, out, ts_buf_packer_write);
        rc = ts_summary_pack (&pk, summary);
        if (rc == 0)
            rc = s_pack (&pk, root, 1);
    }
    if (rc) {
        out->size = start;
        if (rc == TS_ETOOBIG) {
            snprintf (reason, reason_size, "nesting deeper than %d levels", TS_MAX_DEPTH);
            return TS_EBADLINE;
        }
        return rc;
    }
    return 0;
}

} // extern "C"
