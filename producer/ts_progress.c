/*  ts_progress.c: the producer's progress display (ts_progress.h). */
#include "ts_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_PROGRESS_BAR_WIDTH 24

struct ts_progress {
    ts_progress_mode_t mode;
    int64_t total;
    int64_t start_ms;
    int64_t next_ms;       /* next update due */
    bool    shown;         /* a bar is on the terminal line */
};

ts_progress_t *
ts_progress_new (ts_progress_mode_t mode, int64_t total, int64_t now_ms)
{
    ts_progress_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->mode = mode;
    self->total = total;
    self->start_ms = now_ms;
    self->next_ms = now_ms + (mode == TS_PROGRESS_BAR ? TS_PROGRESS_BAR_MS : TS_PROGRESS_LINE_MS);
    return self;
}

void
ts_progress_destroy (ts_progress_t **self_p)
{
    ts_progress_t *self = *self_p;
    if (!self)
        return;
    ts_progress_clear (self);
    free (self);
    *self_p = NULL;
}

void
ts_progress_clear (ts_progress_t *self)
{
    if (self && self->shown) {
        fputs ("\r\033[K", stderr);
        fflush (stderr);
        self->shown = false;
    }
}

/*  "1:02:03", "2:03" or "--" for a time in seconds. */
static void
s_duration (double s, char *buf, size_t size)
{
    if (s < 0 || s > 360000) {
        snprintf (buf, size, "--");
        return;
    }
    unsigned t = (unsigned) (s + 0.5);
    if (t >= 3600)
        snprintf (buf, size, "%u:%02u:%02u", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf (buf, size, "%u:%02u", t / 60, t % 60);
}

int64_t
ts_progress_update (ts_progress_t *self, int64_t now_ms, uint64_t consumed,
                    uint64_t bytes, uint64_t records)
{
    if (!self || self->mode == TS_PROGRESS_NONE)
        return INT64_MAX;
    if (now_ms < self->next_ms)
        return self->next_ms;
    int64_t step = self->mode == TS_PROGRESS_BAR ? TS_PROGRESS_BAR_MS : TS_PROGRESS_LINE_MS;
    self->next_ms = now_ms + step;

    double secs = (double) (now_ms - self->start_ms) / 1000.0;
    if (secs <= 0)
        secs = 0.001;
    double mbs = (double) bytes / secs / 1e6;
    double rps = (double) records / secs;
    double frac = -1;
    char eta [32] = "--";
    if (self->total > 0) {
        frac = (double) consumed / (double) self->total;
        if (frac > 1)
            frac = 1;
        if (frac > 0)
            s_duration (secs * (1 - frac) / frac, eta, sizeof eta);
    }
    char line [256];
    if (self->mode == TS_PROGRESS_BAR) {
        if (frac >= 0) {
            char bar [TS_PROGRESS_BAR_WIDTH + 1];
            int fill = (int) (frac * TS_PROGRESS_BAR_WIDTH);
            for (int i = 0; i < TS_PROGRESS_BAR_WIDTH; i++)
                bar [i] = i < fill ? '#' : '.';
            bar [TS_PROGRESS_BAR_WIDTH] = 0;
            snprintf (line, sizeof line, "%5.1f%% [%s] %8.1f MB/s %9.0f rec/s  ETA %s",
                      frac * 100, bar, mbs, rps, eta);
        }
        else {
            char el [32];
            s_duration (secs, el, sizeof el);
            snprintf (line, sizeof line, "%10.1f MB %8.1f MB/s %9.0f rec/s  %s",
                      (double) bytes / 1e6, mbs, rps, el);
        }
        fprintf (stderr, "\r%s\033[K", line);
        self->shown = true;
    }
    else {
        if (frac >= 0)
            fprintf (stderr, "progress: %.1f%%, %.1f MB read, %.1f MB/s, %.0f records/s, "
                     "%llu records acknowledged, ETA %s\n", frac * 100, (double) bytes / 1e6,
                     mbs, rps, (unsigned long long) records, eta);
        else
            fprintf (stderr, "progress: %.1f MB read, %.1f MB/s, %.0f records/s, "
                     "%llu records acknowledged\n", (double) bytes / 1e6, mbs, rps,
                     (unsigned long long) records);
    }
    fflush (stderr);
    return self->next_ms;
}
