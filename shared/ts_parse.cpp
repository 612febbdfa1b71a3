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
    int          nwarnings;         /* of the last line parsed */
    ts_parse_warning_t warnings [TS_PARSE_WARNINGS_MAX];
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

/*  The value at `ptr`, where a segment "*" is the first member of an
 *  object (or element of an array). A leading '#' (hash the text) is not
 *  part of the pointer. */
simdjson_result<dom::element> s_at (dom::element root, const char *ptr)
{
    if (ptr [0] == '#')
        ptr++;
    if (!strchr (ptr, '*'))                     /* the usual case */
        return root.at_pointer (ptr);
    const char *star = strstr (ptr, "/*");
    while (star && star [2] != 0 && star [2] != '/')
        star = strstr (star + 1, "/*");
    if (!star)
        return root.at_pointer (ptr);
    dom::element at = root;
    if (star > ptr) {
        auto r = root.at_pointer (std::string_view (ptr, (size_t) (star - ptr)));
        if (r.error ())
            return r;
        at = r.value_unsafe ();
    }
    if (at.is_object ()) {
        dom::object o = at.get_object ().value_unsafe ();
        if (o.begin () == o.end ())
            return NO_SUCH_FIELD;
        at = (*o.begin ()).value;
    }
    else if (at.is_array ()) {
        dom::array a = at.get_array ().value_unsafe ();
        if (a.begin () == a.end ())
            return INDEX_OUT_OF_BOUNDS;
        at = *a.begin ();
    }
    else
        return INCORRECT_TYPE;
    if (star [2])
        return s_at (at, star + 2);
    return simdjson_result<dom::element> (std::move (at));
}

/*  Finds the first alternative of `f` whose parts are all present (and not
 *  null). Returns the alternative's index, or -1. Fills parts[]. */
int s_lookup (dom::element root, const ts_field_t &f, dom::element parts [TS_PROFILE_PARTS])
{
    for (int a = 0; a < f.nalts; a++) {
        const ts_field_alt_t &alt = f.alts [a];
        bool ok = true;
        for (int p = 0; p < alt.nparts && ok; p++) {
            auto r = s_at (root, alt.parts [p]);
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

/*  A field whose value does not fit. The id's problems, and every field's
 *  under a strict profile, reject the line (throw); any other field is
 *  left unknown with a warning, and this returns. */
void s_misfit (ts_parser *self, const char *field, const char *ptr, const char *what,
               const char *got)
{
    char buf [256];
    snprintf (buf, sizeof buf, "%s%s%s", what, got ? ", got " : "", got ? got : "");
    if (self->profile.strict || !strcmp (field, "id")) {
        char line [512];
        snprintf (line, sizeof line, "field %s (%s): %s", field, ptr, buf);
        throw bad_line { line };
    }
    if (self->nwarnings < TS_PARSE_WARNINGS_MAX) {
        ts_parse_warning_t *w = &self->warnings [self->nwarnings++];
        w->field = field;
        int n = snprintf (w->reason, sizeof w->reason, "%.*s: ", 64, ptr);
        if (n > 0 && (size_t) n < sizeof w->reason)
            snprintf (w->reason + n, sizeof w->reason - (size_t) n, "%.*s", 90, buf);
    }
}

void s_misfit_type (ts_parser *self, const char *field, const char *ptr, const char *what,
                    dom::element_type got)
{
    s_misfit (self, field, ptr, what, s_type_name (got));
}

/*  A text field (id, group, model): the alternative found, or -1 when the
 *  field is absent or left unknown. */
int s_text_field (ts_parser *self, dom::element root, const ts_field_t &f, const char *name,
                  size_t max, std::string &out)
{
    dom::element parts [TS_PROFILE_PARTS];
    out.clear ();
    int a = s_lookup (root, f, parts);
    if (a < 0)
        return -1;
    for (int p = 0; p < f.alts [a].nparts; p++) {
        const char *ptr = f.alts [a].parts [p];
        if (p)
            out += ':';
        size_t from = out.size ();
        if (!s_scalar_text (parts [p], out)) {
            s_misfit_type (self, name, ptr, "expected a string or a number", parts [p].type ());
            out.clear ();
            return -1;
        }
        if (ptr [0] == '#') {           /* the text's hash stands for it */
            char hex [33];
            ts_hash_id (out.data () + from, out.size () - from, hex);
            out.resize (from);
            out.append (hex, 32);
        }
    }
    const char *ptr0 = f.alts [a].parts [0];
    if (out.empty ()) {
        s_misfit (self, name, ptr0, "must not be empty", nullptr);
        return -1;
    }
    if (out.size () > max) {
        char what [64];
        snprintf (what, sizeof what, "longer than %zu bytes", max);
        s_misfit (self, name, ptr0, what, nullptr);
        out.clear ();
        return -1;
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

/*  inspect_ai's letter grades (its value_to_float): C 1, I 0, P 0.5, N 0. */
bool s_grade (std::string_view s, double &v)
{
    if (s == "C") v = 1;
    else if (s == "I" || s == "N") v = 0;
    else if (s == "P") v = 0.5;
    else return false;
    return true;
}

/*  Epoch seconds below 1e11 (until year 5138), milliseconds above. */
const char *s_epoch (double v, int64_t &ms)
{
    if (!(std::fabs (v) < 1e15))
        return "epoch time out of range";
    ms = std::fabs (v) < 1e11 ? (int64_t) std::llround (v * 1000.0) : (int64_t) std::llround (v);
    return nullptr;
}

} // namespace

/*  A time: ISO 8601 text, epoch seconds or milliseconds (a number or a
 *  string of one), or an object holding one of those under "timestamp",
 *  "$date", "$numberLong" or "str" (AgentBench's {"timestamp": ms, "str":
 *  ...}, MongoDB's {"$date": ...}). nullptr, or what is wrong. */
static const char *
s_time (dom::element e, int depth, int64_t &ms, const char *&got)
{
    got = nullptr;
    if (e.is_string ()) {
        std::string_view t = e.get_string ().value_unsafe ();
        if (ts_parse_iso8601 (t.data (), t.size (), &ms) == 0)
            return nullptr;
        double v;
        if (!t.empty () && t.find_first_not_of ("0123456789.-") == std::string_view::npos
        &&  s_coerce_number (t, v))
            return s_epoch (v, ms);
        return "not an ISO 8601 time or an epoch";
    }
    if (e.is_number ())
        return s_epoch (e.get_double ().value_unsafe (), ms);
    if (e.is_object () && depth < 3) {
        static const char *const keys [] = { "timestamp", "$date", "$numberLong", "str" };
        dom::object o = e.get_object ().value_unsafe ();
        for (const char *k : keys) {
            auto r = o.at_key (k);
            if (!r.error () && !r.value_unsafe ().is_null ())
                return s_time (r.value_unsafe (), depth + 1, ms, got);
        }
        return "an object without timestamp, $date or str";
    }
    got = s_type_name (e.type ());
    return "expected an ISO 8601 string or epoch number";
}

namespace {

void s_extract (ts_parser *self, dom::element root,
                int64_t ingested_ms, ts_summary_t *s)
{
    const ts_profile_t &pr = self->profile;
    dom::element parts [TS_PROFILE_PARTS];
    memset (s, 0, sizeof *s);
    s->ingested_ms = ingested_ms;
    s->success = TS_SUCCESS_UNKNOWN;
    self->nwarnings = 0;
    if (pr.run [0]) {
        s->run = pr.run;
        s->run_len = (uint32_t) strlen (pr.run);
    }

    /* the id as the record holds it; ts_parser_parse decides whether it is
     * the record's id (ts_profile_record_id) */
    self->id_alt = s_text_field (self, root, pr.id, "id", TS_ID_MAX_BYTES, self->id);
    s->id = self->id.data ();
    s->id_len = (uint32_t) self->id.size ();

    if (s_text_field (self, root, pr.group, "group", TS_GROUP_MAX_BYTES, self->group) >= 0) {
        s->group = self->group.data ();
        s->group_len = (uint32_t) self->group.size ();
    }
    if (s_text_field (self, root, pr.model, "model", TS_MODEL_MAX_BYTES, self->model) >= 0) {
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
        double v = 0;
        bool ok = true;
        if (e.is_number ())
            v = e.get_double ().value_unsafe ();   /* ints convert exactly enough */
        else if (pr.coerce && e.is_string () && s_coerce_number (e.get_string ().value_unsafe (), v))
            ;
        else if (pr.grades && e.is_string () && s_grade (e.get_string ().value_unsafe (), v))
            ;
        else if (e.is_bool () && pr.grades)
            v = e.get_bool ().value_unsafe () ? 1 : 0;
        else {
            s_misfit_type (self, "reward", ptr, "expected a number", e.type ());
            ok = false;
        }
        if (ok) {
            s->has_reward = true;
            s->reward = v;
        }
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
                s_misfit_type (self, "success", pr.success.alts [a].parts [0], "expected a string",
                               parts [0].type ());
            else
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
                s_misfit (self, "success", ptr, "expected a bool or 0/1, got another number", nullptr);
            else
                s_misfit_type (self, "success", ptr, "expected a bool or 0/1", e.type ());
        }
        break;
    }

    a = s_lookup (root, pr.created, parts);
    if (a >= 0) {
        int64_t ms = 0;
        const char *got = nullptr;
        const char *what = s_time (parts [0], 0, ms, got);
        if (what)
            s_misfit (self, "created", pr.created.alts [a].parts [0], what, got);
        else {
            s->has_created = true;
            s->created_ms = ms;
        }
    }

    a = s_lookup (root, pr.steps, parts);
    if (a >= 0) {
        dom::element e = parts [0];
        if (!e.is_array ())
            s_misfit_type (self, "steps", pr.steps.alts [a].parts [0], "expected an array", e.type ());
        else {
            s->has_steps = true;
            s->steps = (int64_t) e.get_array ().value_unsafe ().size ();
        }
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

int
ts_parser_warnings (const ts_parser_t *self, const ts_parse_warning_t **list)
{
    *list = self->warnings;
    return self->nwarnings;
}

bool
ts_parser_id_found (const ts_parser_t *self)
{
    return self->id_alt >= 0;
}

ts_id_source_t
ts_parser_id_source (const ts_parser_t *self)
{
    return ts_profile_record_id (&self->profile, self->id_alt);
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
    self->nwarnings = 0;
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
